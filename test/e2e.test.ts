// A new user's path, for real: pack gatekeep, install the tarball in an empty folder, generate a
// project, install it, then run its tests, build it and start it. Slow (npm talks to the
// registry), so it is one test with generous but finite time.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { repoRoot } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'
import { freePort } from './helpers/dev.js'

/**
 * The environment of a shell a user opened: none of the variables npm sets for `npm test`, and
 * not node:test's own marker, which would make the project's test runner skip every file.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.toLowerCase().startsWith('npm_') && key !== 'INIT_CWD' && key !== 'NODE_TEST_CONTEXT') env[key] = value
  }
  return { ...env, NO_COLOR: '1', ...extra }
}

async function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const child = spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += String(chunk)))
  child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)))
  const [code] = await once(child, 'exit')
  assert.equal(code, 0, `${command} ${args.join(' ')} failed in ${cwd}:\n${output.slice(-4000)}`)
  return output
}

/** Kills a detached child's whole process group unless it already ended (by exit or signal). */
async function killGroup(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  process.kill(-(child.pid as number), 'SIGKILL')
  await exited
}


/** What npm may print that a new user should not see: Node 20 refused, scripts nobody approved. */
const INSTALL_NOISE = /EBADENGINE|not yet covered by allowScripts/

test('packed, installed, initialised, installed again: the new project tests, builds, starts and runs under dev; a Redis project tests', { timeout: 10 * 60_000 }, async (t) => {
  const scratch = tempDir(t, 'gatekeep-e2e-')
  await run('npm', ['pack', '--pack-destination', scratch, '--ignore-scripts'], repoRoot, 120_000)
  const tarball = path.join(scratch, readdirSync(scratch).find((name) => name.endsWith('.tgz')) as string)

  const user = path.join(scratch, 'user')
  mkdirSync(user)
  await run('npm', ['init', '-y'], user, 60_000)
  assert.doesNotMatch(await run('npm', ['install', tarball], user, 300_000), INSTALL_NOISE)
  // The project's own install, run by init: it fetches gatekeep from the tarball this one came from.
  const init = await run(path.join(user, 'node_modules', '.bin', 'gatekeep'), ['init', 'my-service', '--yes', '--install'], user, 300_000)
  assert.match(init, /^gatekeep is not from the registry: the project installs it from \.\.\/\.\.\/gatekeep-0\.1\.0\.tgz\.$/m)
  assert.match(init, /npm run dev/)
  assert.doesNotMatch(init, INSTALL_NOISE)

  const project = path.join(user, 'my-service')
  const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8'))
  assert.equal(manifest.name, 'my-service')
  assert.equal(manifest.devDependencies.gatekeep, 'file:../../gatekeep-0.1.0.tgz')

  const tests = await run('npm', ['test'], project, 300_000)
  assert.match(tests, /^# fail 0$/m)
  const passed = Number(/^# pass (\d+)$/m.exec(tests)?.[1])
  assert.ok(passed >= 30, `the project's own tests ran: ${passed} passed`)
  await run('npm', ['run', 'build'], project, 120_000)

  const port = await freePort()
  const service = spawn('npm', ['start'], { cwd: project, env: userEnv({ PORT: String(port) }), stdio: 'ignore', detached: true })
  const exited = once(service, 'exit')
  // npm start runs node under a shell: signal the whole group so nothing outlives the test.
  t.after(() => killGroup(service, exited))
  const live = await (async () => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const response = await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => null)
      if (response) return response
      assert.ok(Date.now() < deadline, 'npm start did not answer /health/live within 30 s')
      await sleep(100)
    }
  })()
  assert.equal(live.status, 200)
  assert.deepEqual(await live.json(), { status: 'ok' })
  // The whole group gets SIGTERM, as from a terminal's Ctrl-C: npm ends by the signal, the
  // service closes gracefully; neither may linger.
  process.kill(-(service.pid as number), 'SIGTERM')
  await exited

  // npm run dev: the provider calls back after the delay and the gate opens.
  const [devPort, providerPort] = [await freePort(), await freePort()]
  const dev = spawn('npm', ['run', 'dev', '--', '--delay', '300', '--port', String(devPort), '--provider-port', String(providerPort), '--no-watch'], {
    cwd: project,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const devExited = once(dev, 'exit')
  let devOutput = ''
  dev.stdout.on('data', (chunk: Buffer) => (devOutput += String(chunk)))
  dev.stderr.on('data', (chunk: Buffer) => (devOutput += String(chunk)))
  t.after(() => killGroup(dev, devExited))
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${devPort}/health/ready`).catch(() => null)
    if (ready?.status === 200) break
    assert.ok(Date.now() < deadline && dev.exitCode === null, `npm run dev never opened the gate:\n${devOutput}`)
    await sleep(100)
  }
  // dev prints its story line a moment after the gate opens (it keeps the lines in order).
  while (!/gate open/.test(devOutput)) {
    assert.ok(Date.now() < deadline, `npm run dev never said the gate opened:\n${devOutput}`)
    await sleep(50)
  }
  process.kill(-(dev.pid as number), 'SIGINT')
  await devExited

  // A --store redis project: its own tests, the Redis store's included, pass against local Redis.
  await run(path.join(user, 'node_modules', '.bin', 'gatekeep'), ['init', 'fleet', '--store', 'redis', '--yes'], user, 60_000)
  const fleet = path.join(user, 'fleet')
  assert.doesNotMatch(await run('npm', ['install'], fleet, 300_000), INSTALL_NOISE)
  const fleetTests = await run('npm', ['test'], fleet, 300_000)
  assert.match(fleetTests, /^# fail 0$/m)
  assert.match(fleetTests, /sharing Redis: exactly one authorization/)
})
