// Wrong calls read alike across commands: one line, exit 2, where to read the usage; with
// `--json`, one JSON line instead.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { runGatekeep } from './helpers/gatekeep.js'
import { freePort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 20_000 }

describe('wrong calls', { concurrency: true }, () => {
  for (const [args, message] of [
    [['--bogus'], "unknown option '--bogus'; see `gatekeep --help`."],
    [['deploy'], "unknown command 'deploy'; see `gatekeep --help`."],
    [['init', '--bogus'], "unknown option '--bogus'; see `gatekeep init --help`."],
    [['dev', '--bogus'], "unknown option '--bogus'; see `gatekeep dev --help`."],
    [['dev', '--restart-dela', '5'], "unknown option '--restart-dela' (did you mean --restart-delay?); see `gatekeep dev --help`."],
    [['simulate-abort', '--bogus'], "unknown option '--bogus'; see `gatekeep simulate-abort --help`."],
  ] as const) {
    test(`gatekeep ${args.join(' ')}: one line ending with the command's --help`, TIMEOUT, async (t) => {
      const run = await runGatekeep(args, { cwd: tempDir(t) })
      assert.equal(run.code, 2)
      assert.equal(run.stdout, '')
      assert.equal(run.stderr, `error: ${message}\n`)
    })
  }

  test('a value outside its choices is refused in the same words by every command', TIMEOUT, async (t) => {
    const cwd = tempDir(t)
    const runs = await Promise.all([
      runGatekeep(['init', 'svc', '--store', 'disk'], { cwd }),
      runGatekeep(['dev', '--mode', 'chaos'], { cwd }),
      runGatekeep(['simulate-abort', '--method', 'TRACE'], { cwd }),
    ])
    const expected = [
      "option '--store <store>' argument 'disk' is invalid. expected one of: memory, redis; see `gatekeep init --help`.",
      "option '--mode <mode>' argument 'chaos' is invalid. expected one of: ok, reject, never, flaky, bad-signature, wrong-key, slow-data; see `gatekeep dev --help`.",
      "option '--method <method>' argument 'TRACE' is invalid. expected one of: GET, POST, PUT, PATCH, DELETE; see `gatekeep simulate-abort --help`.",
    ]
    for (const [index, run] of runs.entries()) {
      assert.equal(run.code, 2)
      assert.equal(run.stderr, `error: ${expected[index]}\n`)
    }
  })

  test('simulate-abort --json: a refused flag is one JSON line on stderr, stdout empty', TIMEOUT, async (t) => {
    // --json after the bad value: commander refuses the value before it reads --json.
    const run = await runGatekeep(['simulate-abort', '--after', '-1', '--json'], { cwd: tempDir(t) })
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    assert.deepEqual(JSON.parse(run.stderr), {
      error: "option '--after <ms>' argument '-1' is invalid. expected a whole number, 0 or more; see `gatekeep simulate-abort --help`.",
    })
    assert.equal(run.stderr.split('\n').length, 2, 'one line')
  })

  test('simulate-abort --json: an unreachable target is one JSON line too, exit 2', TIMEOUT, async (t) => {
    const url = `http://127.0.0.1:${await freePort()}`
    const run = await runGatekeep(['simulate-abort', '--json', '--url', url], { cwd: tempDir(t) })
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    const { error } = JSON.parse(run.stderr) as { error: string }
    assert.match(error, new RegExp(`^nothing answers at ${url} \\(ECONNREFUSED\\)`))
  })

  test('--json after -- is an argument, not the flag: errors stay text', TIMEOUT, async (t) => {
    const run = await runGatekeep(['simulate-abort', '--bogus', '--', '--json'], { cwd: tempDir(t) })
    assert.equal(run.code, 2)
    assert.match(run.stderr, /^error: unknown option '--bogus'/)
  })
})
