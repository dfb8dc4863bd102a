// A new user's path, for real: pack gatekeep, install the tarball in an empty folder, generate a
// project, install it, then run its tests, build it and start it. Slow (npm talks to the
// registry), so it is one test with generous but finite time.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { repoRoot } from './helpers/gatekeep.js'
import { waitForResponse } from './helpers/http.js'
import { freePort } from './helpers/ports.js'
import { spawnCaptured } from './helpers/spawn.js'
import { tempDir } from './helpers/temp.js'

/**
 * The environment of a shell a user opened: none of the variables npm sets for `npm test`, and
 * not node:test's own marker, which would make the project's test runner skip every file.
 */
function userEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const removed = Object.keys(process.env).filter((key) => key.toLowerCase().startsWith('npm_') || key === 'INIT_CWD' || key === 'NODE_TEST_CONTEXT')
  return { ...Object.fromEntries(removed.map((key) => [key, undefined])), NO_COLOR: '1', ...extra }
}

async function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const running = spawnCaptured(command, args, { cwd, env: userEnv(), timeoutMs })
  const { code } = await running.exited
  assert.equal(code, 0, `${command} ${args.join(' ')} failed in ${cwd}:\n${running.output().slice(-4000)}`)
  return running.output()
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
  // npm start runs node under a shell: its own group, signalled whole, so nothing outlives the test.
  const service = spawnCaptured('npm', ['start'], { cwd: project, env: userEnv({ PORT: String(port) }), group: true, t })
  const live = await waitForResponse(`http://127.0.0.1:${port}/health/live`, service)
  assert.equal(live.status, 200)
  assert.deepEqual(await live.json(), { status: 'ok' })
  // The whole group gets SIGTERM, as from a terminal's Ctrl-C: npm ends by the signal, the
  // service closes gracefully; neither may linger.
  service.signal('SIGTERM')
  await service.exited

  // npm run dev: the provider calls back after the delay and the gate opens.
  const [devPort, providerPort] = [await freePort(), await freePort()]
  const devArgs = ['run', 'dev', '--', '--delay', '300', '--port', String(devPort), '--provider-port', String(providerPort), '--no-watch', '--no-console']
  const dev = spawnCaptured('npm', devArgs, { cwd: project, env: userEnv(), group: true, t })
  await waitForResponse(`http://127.0.0.1:${devPort}/health/ready`, dev, { accept: (status) => status === 200, timeoutMs: 60_000 })
  // dev prints its story line a moment after the gate opens (it keeps the lines in order).
  await dev.waitFor(/gate open/)
  dev.signal('SIGINT')
  await dev.exited

  // A --store redis project: its own tests, the Redis store's included, pass against local Redis.
  await run(path.join(user, 'node_modules', '.bin', 'gatekeep'), ['init', 'fleet', '--store', 'redis', '--yes'], user, 60_000)
  const fleet = path.join(user, 'fleet')
  assert.doesNotMatch(await run('npm', ['install'], fleet, 300_000), INSTALL_NOISE)
  const fleetTests = await run('npm', ['test'], fleet, 300_000)
  assert.match(fleetTests, /^# fail 0$/m)
  assert.match(fleetTests, /sharing Redis: exactly one authorization/)
})
