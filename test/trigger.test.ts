// `gatekeep trigger` against a real console server (with a fake session behind it), found
// through a temp project's .gatekeep/dev.json: what it sends, what it prints, how it exits.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { startConsole } from '../src/console/server.js'
import { devStatePath, PROVIDER_MODES, serializeDevState, type DevState } from '../src/project/contract.js'
import { FakeSession, TOKEN } from './helpers/console.js'
import { runGatekeep } from './helpers/gatekeep.js'
import { freePort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

function project(t: TestContext): string {
  const root = tempDir(t)
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'svc', gatekeep: {} }))
  return root
}

function writeDevJson(root: string, state: DevState): void {
  mkdirSync(path.dirname(devStatePath(root)), { recursive: true })
  writeFileSync(devStatePath(root), serializeDevState(state), { mode: 0o600 })
}

/** A project whose dev.json names a running session (this test's process) and a live console. */
async function session(t: TestContext, fake = new FakeSession()) {
  const root = project(t)
  const running = await startConsole({ session: fake, port: await freePort(), token: TOKEN })
  t.after(() => running.close())
  writeDevJson(root, { pid: process.pid, services: [], provider: null, console: { url: running.url, token: TOKEN } })
  return { root, fake, running }
}

test('each action reaches the session and prints what changed, exiting 0', async (t) => {
  const { root, fake } = await session(t)
  const runs = [
    { args: ['fire'], line: 'the provider called back' },
    { args: ['mode', 'reject'], line: 'provider mode: reject' },
    { args: ['traffic', '5'], line: 'traffic: 5 requests/s' },
    { args: ['traffic', '0'], line: 'traffic stopped' },
    { args: ['abort', '--count', '3'], line: '3 aborted requests sent' },
    { args: ['abort'], line: '1 aborted requests sent' },
    { args: ['expire'], line: 'the key expired: every gate closed, a new handshake runs' },
    { args: ['restart'], line: 'the service restarted' },
  ]
  for (const { args, line } of runs) {
    const result = await runGatekeep(['trigger', ...args], { cwd: root, t })
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
    assert.equal(result.stdout, `${line}\n`)
    assert.equal(result.stderr, '')
  }
  assert.deepEqual(fake.calls, ['fire', 'mode reject', 'traffic 5', 'traffic 0', 'abort 3', 'abort 1', 'expire', 'restart'])
})

test('from a subfolder of the project too', async (t) => {
  const { root, fake } = await session(t)
  const sub = path.join(root, 'src', 'deep')
  mkdirSync(sub, { recursive: true })
  const result = await runGatekeep(['trigger', 'fire'], { cwd: sub, t })
  assert.equal(result.code, 0, result.stderr)
  assert.deepEqual(fake.calls, ['fire'])
})

test('an action the session cannot apply now exits 1 and says why', async (t) => {
  const fake = new FakeSession()
  fake.restartRefusal = 'the service is starting'
  const { root } = await session(t, fake)
  const result = await runGatekeep(['trigger', 'restart'], { cwd: root, t })
  assert.equal(result.code, 1)
  assert.equal(result.stdout, '')
  assert.match(result.stderr, /restart was not applied: the service is starting/)
})

test('a bad action, mode or rate exits 2, listing the choices, and sends nothing', async (t) => {
  const { root, fake } = await session(t)
  const cases: [string[], RegExp][] = [
    [['reboot'], /unknown action "reboot"; the actions are: fire, restart, expire, mode <mode>, traffic <rps>, abort \[--count n\]/],
    [['mode', 'sideways'], new RegExp(`unknown mode "sideways"; the modes are: ${PROVIDER_MODES.join(', ')}`)],
    [['mode'], /mode needs a mode; the modes are: ok, /],
    [['traffic'], /traffic needs a rate .* from 0 \(stop\) to 1000/],
    [['traffic', 'fast'], /traffic needs a rate/],
    [['traffic', '5000'], /traffic needs a rate/],
    [['fire', 'now'], /fire takes no value/],
    [['fire', '--count', '2'], /--count goes with abort only/],
    [['abort', '--count', '0'], /--count.*1 or more/],
  ]
  for (const [args, message] of cases) {
    const result = await runGatekeep(['trigger', ...args], { cwd: root, t })
    assert.equal(result.code, 2, args.join(' '))
    assert.match(result.stderr, message)
    assert.equal(result.stdout, '')
  }
  assert.deepEqual(fake.calls, [])
})

test('with no dev session here it exits 2 in one line', async (t) => {
  const outside = tempDir(t)
  const none = project(t)
  const dead = project(t)
  // A pid no process has: the file of a dev killed outright.
  writeDevJson(dead, { pid: 2 ** 22 + 1, services: [], provider: null, console: { url: 'http://127.0.0.1:1/', token: TOKEN } })
  const noConsole = project(t)
  writeDevJson(noConsole, { pid: process.pid, services: [], provider: null })
  const gone = project(t)
  writeDevJson(gone, { pid: process.pid, services: [], provider: null, console: { url: `http://127.0.0.1:${await freePort()}/`, token: TOKEN } })
  for (const cwd of [outside, none, dead, noConsole, gone]) {
    const result = await runGatekeep(['trigger', 'fire'], { cwd, t })
    assert.equal(result.code, 2, cwd)
    assert.match(result.stderr, /^error: no `gatekeep dev` runs here/)
    assert.equal(result.stderr.trim().split('\n').length, 1)
  }
})

test('a wrong token is not applied: exit 1 with the console’s word', async (t) => {
  const { root, running } = await session(t)
  writeDevJson(root, { pid: process.pid, services: [], provider: null, console: { url: running.url, token: 'another-token-0123456789' } })
  const result = await runGatekeep(['trigger', 'fire'], { cwd: root, t })
  assert.equal(result.code, 1)
  assert.match(result.stderr, /fire was not applied: the console answered 401: the session token is missing or wrong/)
})

test('--help lists the actions, the modes and examples', async (t) => {
  const result = await runGatekeep(['trigger', '--help'], { cwd: tempDir(t), t })
  assert.equal(result.code, 0)
  assert.match(result.stdout, /Usage: gatekeep trigger \[options\] <action> \[value\]/)
  assert.match(result.stdout, new RegExp(PROVIDER_MODES.join(', ')))
  assert.match(result.stdout, /\$ gatekeep trigger mode reject && gatekeep trigger expire/)
  assert.match(result.stdout, /Exit codes: 0 applied/)
})
