// `gatekeep dev` leaves no process behind, whatever ends it, and outlives a crashing service.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fetchVersion, isAlive, readDevStateIn, saveVersionRoute, startDevSession, waitUntilGone, type DevSession } from './helpers/dev.js'
import { waitUntilPortFree } from './helpers/ports.js'

const TIMEOUT = { timeout: 60_000 }

async function assertNothingLeft(dev: DevSession, pids: number[]): Promise<void> {
  await waitUntilGone(pids)
  assert.equal(await waitUntilPortFree(dev.port), true, 'the service port is still taken')
  assert.equal(await waitUntilPortFree(dev.providerPort), true, 'the provider port is still taken')
}

function prependTo(root: string, file: string, code: string): void {
  const full = path.join(root, file)
  writeFileSync(full, `${code}\n${readFileSync(full, 'utf8')}`)
}

/** A service entry that listens, says so on the event channel, and ignores SIGTERM. */
function ignoreSigterm(root: string): void {
  writeFileSync(
    path.join(root, 'src', 'server.ts'),
    [
      "import { channel } from 'node:diagnostics_channel'",
      "import Fastify from 'fastify'",
      "process.on('SIGTERM', () => console.error('ignoring SIGTERM'))",
      'const app = Fastify({ logger: true })',
      "app.get('/health/live', async () => ({ status: 'ok' }))",
      "const url = await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })",
      "channel('gatekeep:listening').publish({ type: 'listening', app: 1, url })",
    ].join('\n'),
  )
}

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`${signal}: every child ends, ports freed, exit 0`, TIMEOUT, async (t) => {
    const dev = await startDevSession(t, { args: ['--delay', '100'] })
    await dev.waitFor(/gatekeep │ gate open after/, 30_000)
    await dev.waitFor(/watching .+ for changes/)
    const pids = dev.pids()
    dev.child.kill(signal)
    assert.deepEqual(await dev.exited, { code: 0, signal: null })
    assert.equal(readDevStateIn(dev.root), null)
    await assertNothingLeft(dev, pids)
  })
}

test('dev killed outright (SIGKILL): its children notice and exit', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  // The standby for the next restart is warming up by now: it must end too.
  await sleep(300)
  const pids = dev.pids()
  assert.ok(pids.length >= 4, `dev, provider, service, standby: ${pids.join(', ')}`)
  dev.child.kill('SIGKILL')
  await dev.exited
  await assertNothingLeft(dev, pids)
})

test('a service that ignores SIGTERM is killed; dev still exits 0', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, {
    args: ['--delay', '100'],
    prepare: ignoreSigterm,
  })
  await dev.waitFor(/service listening on/, 30_000)
  const pids = dev.pids()
  const stoppedAt = Date.now()
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  assert.ok(Date.now() - stoppedAt >= 2500, 'it was given its grace period first')
  assert.match(dev.output(), /service  │ ignoring SIGTERM/)
  await assertNothingLeft(dev, pids)
})

test('a second Ctrl-C forces: everything is killed at once', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100'], prepare: ignoreSigterm })
  await dev.waitFor(/service listening on/, 30_000)
  const pids = dev.pids()
  const stoppedAt = Date.now()
  dev.child.kill('SIGINT')
  await dev.waitFor(/SIGINT received: stopping \(again to force\)/)
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 130, signal: null })
  assert.ok(Date.now() - stoppedAt < 2500, 'it did not wait for the grace period')
  assert.equal(readDevStateIn(dev.root), null)
  await assertNothingLeft(dev, pids)
})

test('a service crashing at load, then later, does not end dev; the next change restarts it', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100', '--restart-delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  await dev.waitFor(/watching .+ for changes/)

  let before = dev.output().length
  writeFileSync(path.join(dev.root, 'src', 'routes', 'health.ts'), 'export default async function (: {\n')
  await dev.waitFor(/the service exited with code 1; waiting for a change to restart it/, 10_000, before)
  const provider = readDevStateIn(dev.root)?.provider
  assert.ok(provider && isAlive(provider.pid), 'the provider keeps running')
  assert.deepEqual(readDevStateIn(dev.root)?.services, [])

  before = dev.output().length
  saveVersionRoute(dev.root, 1)
  await dev.waitFor(/service listening on/, 10_000, before)
  assert.equal(await fetchVersion(dev.baseUrl), 1)

  // Later: an error thrown outside any request ends the process.
  before = dev.output().length
  const health = path.join(dev.root, 'src', 'routes', 'health.ts')
  writeFileSync(
    health,
    readFileSync(health, 'utf8').replace(/\}\s*$/, "  fastify.get('/__crash', async () => { setImmediate(() => { throw new Error('boom') }); return 'ok' })\n}\n"),
  )
  await dev.waitFor(/service listening on/, 10_000, before)
  before = dev.output().length
  await fetch(`${dev.baseUrl}/__crash`)
  await dev.waitFor(/the service exited with code 1; waiting for a change to restart it/, 10_000, before)
  assert.equal(dev.child.exitCode, null, 'dev keeps running')

  const pids = dev.pids()
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  await assertNothingLeft(dev, pids)
})

test('a crashed provider is restarted, and the service with it', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, {
    args: ['--delay', '100', '--restart-delay', '100'],
    // Crashes when the test says so, once the gate is open: not on a timer that a slow start could outrun.
    prepare: (root) => prependTo(root, 'src/provider/mock-server.ts', "process.on('SIGUSR2', () => process.exit(3))"),
  })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  const first = readDevStateIn(dev.root)
  assert.ok(first?.provider)
  const before = dev.output().length
  process.kill(first.provider.pid, 'SIGUSR2')
  await dev.waitFor(/the provider exited with code 3; restarting it and the service/, 10_000, before)
  await dev.waitFor(/provider listening on/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 10_000, before)
  const second = readDevStateIn(dev.root)
  assert.notEqual(second?.provider?.pid, first?.provider?.pid)
  assert.notEqual(second?.services[0]?.pid, first?.services[0]?.pid)
  assert.equal((await fetch(`${dev.baseUrl}/health/ready`)).status, 200)
})

test('a provider crashing 3 times within 10 s ends dev with exit 1, nothing left', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, {
    args: ['--delay', '100'],
    prepare: (root) => prependTo(root, 'src/provider/mock-server.ts', 'setTimeout(() => process.exit(3), 200)'),
  })
  const { code } = await dev.exited
  assert.equal(code, 1)
  assert.match(dev.output(), /error: the provider crashed 3 times within 10 s; see its output above\.\n$/)
  assert.equal(readDevStateIn(dev.root), null)
  await assertNothingLeft(dev, dev.pids())
})

test("the provider's own files restart it (and the service); its client restarts the service only", TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100', '--restart-delay', '100'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  await dev.waitFor(/watching .+ for changes/)
  const first = readDevStateIn(dev.root)

  let before = dev.output().length
  writeFileSync(path.join(dev.root, 'src', 'provider', 'mock.ts'), `${readFileSync(path.join(dev.root, 'src', 'provider', 'mock.ts'), 'utf8')}\n`)
  await dev.waitFor(/src\/provider\/mock\.ts changed: restarting the provider and the service/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 15_000, before)
  const second = readDevStateIn(dev.root)
  assert.notEqual(second?.provider?.pid, first?.provider?.pid)
  assert.notEqual(second?.services[0]?.pid, first?.services[0]?.pid)

  before = dev.output().length
  writeFileSync(path.join(dev.root, 'src', 'provider', 'client.ts'), `${readFileSync(path.join(dev.root, 'src', 'provider', 'client.ts'), 'utf8')}\n`)
  await dev.waitFor(/src\/provider\/client\.ts changed: restarting the service\n/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 15_000, before)
  const third = readDevStateIn(dev.root)
  assert.equal(third?.provider?.pid, second?.provider?.pid)
  assert.notEqual(third?.services[0]?.pid, second?.services[0]?.pid)
})
