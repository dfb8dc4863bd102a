import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { devStatePath } from '../src/project/contract.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'
import { freePort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const cwd = repoRoot

describe('gatekeep simulate-abort: wrong calls exit 2 with one line', { concurrency: true }, () => {
  test('an unreachable target', { timeout: 20_000 }, async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const run = await runGatekeep(['simulate-abort', '--url', url], { cwd })
    assert.equal(run.code, 2)
    assert.match(run.stderr, new RegExp(`^error: nothing answers at ${url} \\(ECONNREFUSED\\): start it with \`npm run dev\` or point --url at it\\.\\n$`))
  })

  test('a dev.json left by a dev that died is ignored, and so is its unreachable service', { timeout: 20_000 }, async (t) => {
    const project = tempDir(t)
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: {} }))
    mkdirSync(path.dirname(devStatePath(project)))
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid
    const staleUrl = `http://127.0.0.1:${await freePort()}`
    const session = { pid: deadPid, services: [{ url: staleUrl, pid: deadPid }], provider: null }
    writeFileSync(devStatePath(project), JSON.stringify(session))

    // --wait-ready 0 keeps the run short whatever answers on the default port of this machine.
    const run = await runGatekeep(['simulate-abort', '--wait-ready', '0'], { cwd: project, env: { PORT: undefined } })
    assert.match(
      run.stdout,
      /^target http:\/\/127\.0\.0\.1:3000\/v1\/data \(no gatekeep dev session running: the project's port, from the service's default\)\n/,
    )
    assert.ok(!run.stdout.includes(staleUrl) && !run.stderr.includes(staleUrl))
  })

  test('a dev session still starting (no service listening yet): exit 2, wait or pass --url', { timeout: 20_000 }, async (t) => {
    const project = tempDir(t)
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: {} }))
    mkdirSync(path.dirname(devStatePath(project)))
    // This test's own process stands for the session: it runs.
    writeFileSync(devStatePath(project), JSON.stringify({ pid: process.pid, services: [], provider: null }))
    const run = await runGatekeep(['simulate-abort'], { cwd: project })
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, new RegExp(`^error: the gatekeep dev session \\(pid ${process.pid}\\) has no service listening yet \\(.+dev\\.json\\); wait for it, or pass --url\\.\\n$`))
  })

  test("without a dev session, the project's own port: package.json, then .env, then the environment", { timeout: 20_000 }, async (t) => {
    const project = tempDir(t)
    const [fromManifest, fromDotEnv, fromEnvironment] = [await freePort(), await freePort(), await freePort()]
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: { port: fromManifest } }))
    const firstLine = async (env: Record<string, string | undefined>) => {
      const run = await runGatekeep(['simulate-abort', '--wait-ready', '0'], { cwd: project, env })
      // Nothing listens there: the line that says which target comes first, then the refusal.
      assert.equal(run.code, 2, run.stderr)
      return run.stdout.split('\n')[0]
    }
    assert.equal(
      await firstLine({ PORT: undefined }),
      `target http://127.0.0.1:${fromManifest}/v1/data (no gatekeep dev session running: the project's port, from package.json "gatekeep".port)`,
    )
    writeFileSync(path.join(project, '.env'), `PORT=${fromDotEnv}\n`)
    assert.equal(
      await firstLine({ PORT: undefined }),
      `target http://127.0.0.1:${fromDotEnv}/v1/data (no gatekeep dev session running: the project's port, from PORT in .env)`,
    )
    assert.equal(
      await firstLine({ PORT: String(fromEnvironment) }),
      `target http://127.0.0.1:${fromEnvironment}/v1/data (no gatekeep dev session running: the project's port, from PORT in the environment)`,
    )
  })

  test('a project made with --port 3710 and no dev session: 3710, and the first line says so', { timeout: 20_000 }, async (t) => {
    const project = tempDir(t)
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: { port: 3710, providerPort: 4000 } }))
    const run = await runGatekeep(['simulate-abort', '--wait-ready', '0'], { cwd: project, env: { PORT: undefined } })
    assert.match(
      run.stdout,
      /^target http:\/\/127\.0\.0\.1:3710\/v1\/data \(no gatekeep dev session running: the project's port, from package\.json "gatekeep"\.port\)\n/,
    )
    assert.doesNotMatch(run.stdout + run.stderr, /:3000\b/)
  })

  test('a bad PORT in .env: exit 2 naming .env, nothing sent', { timeout: 20_000 }, async (t) => {
    const project = tempDir(t)
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: { port: 3710 } }))
    writeFileSync(path.join(project, '.env'), 'PORT=soon\n')
    const run = await runGatekeep(['simulate-abort'], { cwd: project, env: { PORT: undefined } })
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    assert.equal(run.stderr, 'error: PORT=soon (.env): expected a port from 1 to 65535.\n')
  })

  test('outside any project: the default, and the first line says so', { timeout: 20_000 }, async (t) => {
    const run = await runGatekeep(['simulate-abort', '--wait-ready', '0'], { cwd: tempDir(t), env: { PORT: '3999' } })
    assert.match(run.stdout, /^target http:\/\/127\.0\.0\.1:3000\/v1\/data \(the default: no gatekeep project here, and no --url\)\n/)
  })

  const badCalls: Array<[string[], RegExp]> = [
    [['--after', '-1'], /--after <ms>.*'-1' is invalid/],
    [['--after', '1.5'], /--after <ms>.*'1.5' is invalid/],
    [['--count', '0'], /--count <n>.*'0' is invalid/],
    [['--count', 'abc'], /--count <n>.*'abc' is invalid/],
    [['--concurrency', '0'], /--concurrency <n>.*'0' is invalid/],
    [['--wait-ready', 'soon'], /--wait-ready <ms>.*'soon' is invalid/],
    [['--body', '{"a":'], /--body <json>.*is invalid\. expected JSON/],
    [['--body', '{}', '--method', 'GET'], /--body cannot be sent with GET/],
    [['--method', 'TRACE'], /--method <method>.*'TRACE' is invalid/],
    [['--url', 'localhost:3000'], /--url <base>.*is invalid\. expected an http\(s\) URL/],
    [['v1/data'], /argument 'path'.*expected a path starting with "\/"/],
    [['--bogus'], /unknown option '--bogus'/],
  ]
  for (const [args, message] of badCalls) {
    test(`simulate-abort ${args.join(' ')}`, { timeout: 20_000 }, async () => {
      // A reachable-looking default would not matter: the value is refused before any request.
      const run = await runGatekeep(['simulate-abort', '--url', 'http://127.0.0.1:9', ...args], { cwd })
      assert.equal(run.code, 2, run.stderr)
      assert.match(run.stderr, message)
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr)
      assert.equal(run.stdout, '')
    })
  }

  test('--help lists every flag with examples', { timeout: 20_000 }, async () => {
    const run = await runGatekeep(['simulate-abort', '--help'], { cwd })
    assert.equal(run.code, 0)
    for (const flag of ['--url', '--after', '--count', '--concurrency', '--method', '--body', '--wait-ready', '--json']) {
      assert.ok(run.stdout.includes(flag), flag)
    }
    assert.match(run.stdout, /Examples:\n {2}\$ gatekeep simulate-abort/)
  })
})
