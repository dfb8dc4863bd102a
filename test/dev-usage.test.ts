// `gatekeep dev` refusing to start: each failure is one line and the right exit code, before
// anything is written or spawned.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { devStatePath } from '../src/project/contract.js'
import { makeDevProject } from './helpers/dev.js'
import { runGatekeep } from './helpers/gatekeep.js'
import { freePort, holdPort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 20_000 }

function project(t: Parameters<typeof tempDir>[0]): string {
  return makeDevProject(tempDir(t, 'gatekeep-dev-usage-'))
}

/** Nothing was written or started: no .env, no session file. */
function assertUntouched(root: string): void {
  assert.equal(existsSync(path.join(root, '.env')), false, '.env was written')
  assert.equal(existsSync(path.join(root, '.gatekeep')), false, '.gatekeep was written')
}

test('dev --help lists every flag with examples', TIMEOUT, async (t) => {
  const { code, stdout } = await runGatekeep(['dev', '--help'], { cwd: tempDir(t) })
  assert.equal(code, 0)
  for (const flag of ['--delay', '--restart-delay', '--port', '--provider-port', '--mode', '--ttl', '--instances', '--no-watch']) {
    assert.match(stdout, new RegExp(flag))
  }
  assert.match(stdout, /Examples:\n\s+\$ gatekeep dev/)
})

test('outside a gatekeep project: exit 2, one line', TIMEOUT, async (t) => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'package.json'), '{"name":"not-gatekeep"}')
  const { code, stdout, stderr } = await runGatekeep(['dev'], { cwd: dir })
  assert.equal(code, 2)
  assert.equal(stdout, '')
  assert.match(stderr, /^error: no gatekeep project in .+; run `gatekeep init` to create one\.\n$/)
})

test('found from a subfolder of the project', TIMEOUT, async (t) => {
  const root = project(t)
  // A taken port makes it stop right after finding the project.
  const port = await holdPort(t)
  const { code, stderr } = await runGatekeep(['dev', '--port', String(port)], { cwd: path.join(root, 'src', 'routes') })
  assert.equal(code, 1)
  assert.match(stderr, new RegExp(`port ${port} is already in use`))
})

for (const [args, pattern] of [
  [['--port', '0'], /--port <n>.*expected a port from 1 to 65535/],
  [['--port', '70000'], /expected a port from 1 to 65535/],
  [['--provider-port', 'abc'], /--provider-port <n>.*expected a port/],
  [['--delay', '-5'], /--delay <ms>.*expected a whole number/],
  [['--delay', 'soon'], /expected a whole number/],
  [['--restart-delay', '1.5'], /--restart-delay <ms>.*expected a whole number/],
  [['--ttl', 'x'], /--ttl <s>.*expected a whole number/],
  [['--mode', 'chaos'], /--mode <mode>.*chaos.*ok, reject, never, flaky, bad-signature, wrong-key, slow-data/],
  [['--replicas', '2'], /unknown option '--replicas'/],
  [['--port', '3000', '--provider-port', '3000'], /cannot share port 3000/],
] as const) {
  test(`refuses ${args.join(' ')} before anything starts: exit 2`, TIMEOUT, async (t) => {
    const root = project(t)
    const { code, stderr } = await runGatekeep(['dev', ...args], { cwd: root })
    assert.equal(code, 2, stderr)
    assert.match(stderr, pattern)
    assert.equal(stderr.trim().split('\n').length, 1, stderr)
    assertUntouched(root)
  })
}

test('refuses a bad value from the environment, naming the variable', TIMEOUT, async (t) => {
  const root = project(t)
  const { code, stderr } = await runGatekeep(['dev'], { cwd: root, env: { PROVIDER_DELAY_MS: 'later' } })
  assert.equal(code, 2)
  assert.match(stderr, /^error: PROVIDER_DELAY_MS=later \(environment\): expected a whole number/)
  assertUntouched(root)
})

test('refuses a bad value in package.json "gatekeep", naming it', TIMEOUT, async (t) => {
  const root = project(t)
  const manifestPath = path.join(root, 'package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { gatekeep: Record<string, unknown> }
  manifest.gatekeep.port = 'three thousand'
  writeFileSync(manifestPath, JSON.stringify(manifest))
  const { code, stderr } = await runGatekeep(['dev'], { cwd: root, env: { PORT: undefined } })
  assert.equal(code, 2)
  assert.match(stderr, /^error: package.json "gatekeep".port: expected a port/)
  assertUntouched(root)
})

const SECRET_LINE = `WEBHOOK_SECRET=whsec_${Buffer.alloc(32, 1).toString('base64')}\n`

test('PORT in .env is the port, as for npm start; the environment wins over it', TIMEOUT, async (t) => {
  const root = project(t)
  const [inDotEnv, inEnvironment] = [await holdPort(t), await holdPort(t)]
  writeFileSync(path.join(root, '.env'), `${SECRET_LINE}PORT=${inDotEnv}\n`)
  const fromDotEnv = await runGatekeep(['dev'], { cwd: root, env: { PORT: undefined, WEBHOOK_SECRET: undefined } })
  assert.equal(fromDotEnv.code, 1, fromDotEnv.stderr)
  assert.match(fromDotEnv.stderr, new RegExp(`^error: port ${inDotEnv} is already in use`))

  const fromEnvironment = await runGatekeep(['dev'], { cwd: root, env: { PORT: String(inEnvironment), WEBHOOK_SECRET: undefined } })
  assert.equal(fromEnvironment.code, 1, fromEnvironment.stderr)
  assert.match(fromEnvironment.stderr, new RegExp(`^error: port ${inEnvironment} is already in use`))
  assert.equal(existsSync(path.join(root, '.gatekeep')), false)
})

test('refuses a bad PORT in .env, naming .env', TIMEOUT, async (t) => {
  const root = project(t)
  writeFileSync(path.join(root, '.env'), `${SECRET_LINE}PORT=abc\n`)
  // A taken provider port: were .env ignored, dev would stop on it (exit 1) instead.
  const provider = String(await holdPort(t))
  const { code, stdout, stderr } = await runGatekeep(['dev', '--provider-port', provider], { cwd: root, env: { PORT: undefined } })
  assert.equal(code, 2, stderr)
  assert.equal(stdout, '')
  assert.equal(stderr, 'error: PORT=abc (.env): expected a port from 1 to 65535.\n')
  assert.equal(existsSync(path.join(root, '.gatekeep')), false)
})

test('equal ports in package.json are refused naming package.json, not flags never passed', TIMEOUT, async (t) => {
  const root = project(t)
  const manifestPath = path.join(root, 'package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { gatekeep: Record<string, unknown> }
  Object.assign(manifest.gatekeep, { port: 3750, providerPort: 3750 })
  writeFileSync(manifestPath, JSON.stringify(manifest))
  const { code, stderr } = await runGatekeep(['dev'], { cwd: root, env: { PORT: undefined, PROVIDER_PORT: undefined } })
  assert.equal(code, 2)
  assert.match(
    stderr,
    /^error: the service and the provider cannot share port 3750 \(service: package\.json "gatekeep"\.port; provider: package\.json "gatekeep"\.providerPort\)/,
  )
  assertUntouched(root)
})

test('refuses a .env without WEBHOOK_SECRET, never printing secrets', TIMEOUT, async (t) => {
  const root = project(t)
  writeFileSync(path.join(root, '.env'), 'PORT=3000\n')
  const { code, stderr } = await runGatekeep(['dev'], { cwd: root, env: { WEBHOOK_SECRET: undefined } })
  assert.equal(code, 2)
  assert.match(stderr, /^error: \.env has no WEBHOOK_SECRET/)

  writeFileSync(path.join(root, '.env'), 'WEBHOOK_SECRET=not-a-real-secret\n')
  const malformed = await runGatekeep(['dev'], { cwd: root, env: { WEBHOOK_SECRET: undefined } })
  assert.equal(malformed.code, 2)
  assert.match(malformed.stderr, /WEBHOOK_SECRET must be a Standard Webhooks secret/)
  assert.doesNotMatch(malformed.stderr, /not-a-real-secret/)
})

for (const which of ['--port', '--provider-port'] as const) {
  test(`a taken ${which}: exit 1 naming the port, nothing started or written`, TIMEOUT, async (t) => {
    const root = project(t)
    const taken = await holdPort(t)
    const other = String(await freePort())
    const args = which === '--port' ? ['--port', String(taken), '--provider-port', other] : ['--port', other, '--provider-port', String(taken)]
    const { code, stdout, stderr } = await runGatekeep(['dev', ...args], { cwd: root })
    assert.equal(code, 1)
    assert.equal(stdout, '')
    assert.equal(stderr, `error: port ${taken} is already in use; stop what listens there or pass ${which}.\n`)
    assertUntouched(root)
  })
}

test('a missing entry file: exit 1 naming it', TIMEOUT, async (t) => {
  const root = project(t)
  rmSync(path.join(root, 'src', 'server.ts'))
  const { code, stderr } = await runGatekeep(['dev', '--port', String(await freePort())], { cwd: root })
  assert.equal(code, 1)
  assert.match(stderr, /^error: src\/server\.ts is missing in /)
  assertUntouched(root)
})

test('a project from an earlier gatekeep (no src/events.ts): exit 2, one line saying how to upgrade, nothing started', TIMEOUT, async (t) => {
  const root = project(t)
  rmSync(path.join(root, 'src', 'events.ts'))
  const { code, stdout, stderr } = await runGatekeep(['dev', '--port', String(await freePort())], { cwd: root })
  assert.equal(code, 2, stderr)
  assert.equal(stdout, '')
  assert.match(stderr, /^error: this project was made by an earlier gatekeep: it has no src\/events\.ts, .* To upgrade, generate a project with `npx gatekeep init <new-dir>` and carry your changes over to its src\//)
  assert.equal(stderr.trim().split('\n').length, 1, stderr)
  assertUntouched(root)
})

test('a LOG_LEVEL the service would refuse: exit 2 before anything starts', TIMEOUT, async (t) => {
  const root = project(t)
  const { code, stderr } = await runGatekeep(['dev'], { cwd: root, env: { LOG_LEVEL: 'loud' } })
  assert.equal(code, 2)
  assert.equal(stderr, 'error: LOG_LEVEL=loud: expected one of: fatal, error, warn, info, debug, trace, silent.\n')
  assertUntouched(root)
})

test('a dev.json naming a live session: exit 2 naming it and how to stop it, nothing changed', TIMEOUT, async (t) => {
  const root = project(t)
  const stateFile = devStatePath(root)
  mkdirSync(path.dirname(stateFile))
  // This test's own process stands for the session: it runs, and it is not the new dev.
  const session = { pid: process.pid, services: [{ url: 'http://127.0.0.1:3999', pid: process.pid }], provider: null }
  writeFileSync(stateFile, JSON.stringify(session))
  const { code, stdout, stderr } = await runGatekeep(['dev', '--port', String(await freePort())], { cwd: root })
  assert.equal(code, 2)
  assert.equal(stdout, '')
  assert.equal(
    stderr,
    `error: gatekeep dev is already running in this project (pid ${process.pid}, service http://127.0.0.1:3999); ` +
      `stop it first: q or Ctrl-C in its terminal, or kill ${process.pid}.\n`,
  )
  assert.equal(readFileSync(stateFile, 'utf8'), JSON.stringify(session))
  assert.equal(existsSync(path.join(root, '.env')), false, '.env was written')

  writeFileSync(stateFile, JSON.stringify({ ...session, services: [] }))
  const starting = await runGatekeep(['dev'], { cwd: root })
  assert.equal(starting.code, 2)
  assert.match(starting.stderr, new RegExp(`\\(pid ${process.pid}, still starting\\)`))
})
