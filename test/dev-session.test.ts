// `gatekeep dev` end to end: real processes, files and HTTP on loopback.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseEnv } from 'node:util'
import { devStatePath } from '../src/project/contract.js'
import { count, fetchVersion, readDevStateIn, saveVersionRoute, startDev, startDevSession, waitUntilGone } from './helpers/dev.js'
import { freePort, waitUntilPortFree } from './helpers/ports.js'

const TIMEOUT = { timeout: 60_000 }

async function providerStats(providerUrl: string): Promise<{ authorizations: number; webhooksDelivered: number }> {
  return (await fetch(`${providerUrl}/__provider/stats`)).json() as Promise<{ authorizations: number; webhooksDelivered: number }>
}

test('the whole story: 503, gate open, one restart per save, the handshake again, clean exit', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '1500', '--restart-delay', '200'] })
  const listening = await dev.waitFor(/gatekeep │ service listening on (\S+) after \d+ ms/, 30_000)
  assert.equal(listening[1], dev.baseUrl)

  // A fresh clone has no .env: one is written with a fresh secret.
  const dotEnv = parseEnv(readFileSync(path.join(dev.root, '.env'), 'utf8'))
  assert.match(dotEnv.WEBHOOK_SECRET ?? '', /^whsec_/)
  assert.match(dev.output(), /created \.env with a fresh webhook secret/)

  // The gate is closed until the provider calls back.
  const closed = await fetch(`${dev.baseUrl}/v1/data`)
  assert.equal(closed.status, 503)
  assert.ok(Number(closed.headers.get('retry-after')) >= 1)
  await dev.waitFor(/gate pending: customer routes answer 503 until the provider calls back, in 1\.5 s/)
  await dev.waitFor(/gatekeep │ webhook received\n(.*\n)*?gatekeep │ gate open after \d+\.\d s/)
  assert.equal((await fetch(`${dev.baseUrl}/health/ready`)).status, 200)
  assert.deepEqual(await (await fetch(`${dev.baseUrl}/v1/data`)).json(), { customer: true, error: false })

  // The session file names the processes that listen.
  const first = readDevStateIn(dev.root)
  assert.ok(first)
  assert.equal(first.pid, dev.child.pid)
  assert.deepEqual(first.services.map((service) => service.url), [dev.baseUrl])
  assert.equal(first.provider?.url, dev.providerUrl)
  await dev.waitFor(/watching .+ for changes/)

  // Files dev ignores restart nothing.
  mkdirSync(path.join(dev.root, 'dist'), { recursive: true })
  writeFileSync(path.join(dev.root, 'dist', 'server.js'), '// built\n')
  writeFileSync(path.join(dev.root, 'test', 'extra.test.ts'), '// a test\n')
  writeFileSync(path.join(dev.root, 'debug.log'), 'noise\n')
  writeFileSync(path.join(dev.root, '.gatekeep', 'note'), 'state\n')
  await sleep(600)
  assert.doesNotMatch(dev.output(), /changed: restarting/)

  // One save: one restart, a new process, the handshake again with --restart-delay.
  const before = dev.output().length
  saveVersionRoute(dev.root, 1)
  await dev.waitFor(/src\/routes\/health\.ts changed: restarting the service/, 10_000, before)
  await dev.waitFor(/gate pending: customer routes answer 503 until the provider calls back, in 0\.2 s/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 10_000, before)
  assert.equal(await fetchVersion(dev.baseUrl), 1)
  assert.equal(count(dev.output().slice(before), /service listening on/), 1)
  const second = readDevStateIn(dev.root)
  assert.ok(second?.services[0])
  assert.notEqual(second.services[0].pid, first.services[0]?.pid)
  assert.equal(second.provider?.pid, first.provider?.pid, 'a service file does not restart the provider')
  const stats = await providerStats(dev.providerUrl)
  assert.equal(stats.authorizations, 2)
  assert.equal(stats.webhooksDelivered, 2)

  // Every line is tagged; pino JSON is pretty; no color without a TTY; no secret, no key.
  const output = dev.output()
  for (const line of output.trimEnd().split('\n')) assert.match(line, /^(gatekeep|service |provider) │ /)
  assert.doesNotMatch(output, /\{"level":/)
  assert.doesNotMatch(output, /\x1b\[/)
  assert.ok(!output.includes(dotEnv.WEBHOOK_SECRET!), 'the secret was printed')
  assert.doesNotMatch(output, /mk_[0-9a-f-]{8,}/, 'a key was printed')

  // Ctrl-C: every child ends, ports are freed, the session file is removed, exit 0.
  const pids = dev.pids()
  assert.ok(pids.length >= 3, `dev, provider, service: ${pids.join(', ')}`)
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  await waitUntilGone(pids)
  assert.equal(existsSync(devStatePath(dev.root)), false)
  assert.equal(await waitUntilPortFree(dev.port), true)
  assert.equal(await waitUntilPortFree(dev.providerPort), true)
})

test('a burst of saves gives one restart', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '200', '--restart-delay', '200'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  await dev.waitFor(/watching .+ for changes/)
  const before = dev.output().length
  for (let version = 1; version <= 6; version += 1) {
    saveVersionRoute(dev.root, version)
    appendFileSync(path.join(dev.root, 'src', 'gate.ts'), '\n')
    await sleep(40)
  }
  await dev.waitFor(/service listening on/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 10_000, before)
  await sleep(800)
  const after = dev.output().slice(before)
  assert.equal(count(after, /changed: restarting/), 1, after)
  assert.equal(count(after, /service listening on/), 1, after)
  assert.equal(await fetchVersion(dev.baseUrl), 6)
  assert.equal((await providerStats(dev.providerUrl)).authorizations, 2)
})

test('--no-watch: a save restarts nothing', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100', '--no-watch'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  saveVersionRoute(dev.root, 1)
  await sleep(800)
  assert.doesNotMatch(dev.output(), /changed|watching/)
  assert.equal(await fetchVersion(dev.baseUrl), null)
})

test('--mode reaches the provider: a flaky handshake fails, is retried, and the gate opens', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--mode', 'flaky', '--delay', '100'] })
  await dev.waitFor(/gatekeep │ handshake failed \(.+\); retrying in \d+\.\d s/, 30_000)
  await dev.waitFor(/gatekeep │ gate open after/, 10_000)
  assert.equal((await providerStats(dev.providerUrl)).authorizations, 2)
})

test('--ttl reaches the provider: the key is refreshed before it expires', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--ttl', '1', '--delay', '100', '--restart-delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  await dev.waitFor(/gatekeep │ key refreshed before it expired/, 10_000)
  assert.equal((await fetch(`${dev.baseUrl}/health/ready`)).status, 200)
})

test('a second gatekeep dev in the project exits 2 naming the first, which keeps serving and keeps its dev.json', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  const stateFile = devStatePath(dev.root)
  const before = readFileSync(stateFile, 'utf8')
  assert.equal(statSync(stateFile).mode & 0o777, 0o600, 'dev.json is mode 600')

  // Other ports: before, it started silently beside the first, and removed its dev.json on exit.
  const second = startDev(['--port', String(await freePort()), '--provider-port', String(await freePort())], dev.root)
  // Were it to start, its children would watch it and end with it.
  t.after(() => void (second.child.exitCode === null && second.child.kill('SIGKILL')))
  const { code } = await second.exited
  assert.equal(code, 2, second.output())
  assert.equal(
    second.output(),
    `error: gatekeep dev is already running in this project (pid ${dev.child.pid}, service ${dev.baseUrl}); ` +
      `stop it first: q or Ctrl-C in its terminal, or kill ${dev.child.pid}.\n`,
  )
  assert.equal(readFileSync(stateFile, 'utf8'), before)
  assert.equal((await fetch(`${dev.baseUrl}/health/ready`)).status, 200)
})

test('a dev.json left by a session that died is taken over, and removed on exit', TIMEOUT, async (t) => {
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid
  const dev = await startDevSession(t, {
    args: ['--delay', '100'],
    prepare: (root) => {
      mkdirSync(path.dirname(devStatePath(root)))
      const stale = { pid: deadPid, services: [{ url: 'http://127.0.0.1:9', pid: deadPid }], provider: null }
      writeFileSync(devStatePath(root), JSON.stringify(stale))
    },
  })
  await dev.waitFor(/gatekeep │ service listening on/, 30_000)
  const state = readDevStateIn(dev.root)
  assert.equal(state?.pid, dev.child.pid)
  assert.deepEqual(state?.services.map((service) => service.url), [dev.baseUrl])
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  assert.equal(existsSync(devStatePath(dev.root)), false)
})

test('a session removes only its own dev.json', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  await dev.waitFor(/watching .+ for changes/)
  // Another session's file now (this test's process stands for it): not this session's to remove.
  const other = JSON.stringify({ pid: process.pid, services: [{ url: 'http://127.0.0.1:9', pid: process.pid }], provider: null })
  writeFileSync(devStatePath(dev.root), other)
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  assert.equal(readFileSync(devStatePath(dev.root), 'utf8'), other)
})
