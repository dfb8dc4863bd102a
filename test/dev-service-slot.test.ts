// A service slot (one instance and its warm standby) and the provider's, against fake processes.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { LISTEN_WAIT_MS } from '../src/dev/child.js'
import type { DevEvent } from '../src/dev/feed.js'
import { ProviderSlot } from '../src/dev/provider-slot.js'
import { ServiceSlot } from '../src/dev/service-slot.js'
import type { ServiceEvent } from '../src/project/contract.js'
import { FakeChildren, settle } from './helpers/fake-child.js'

const SERVICE_URL = 'http://127.0.0.1:3000'
const ENTRY = '/project/src/server.ts'
const ENV = { PORT: '3000' }

/** Every fake exits when the test ends: none keeps a listening timer running. */
function exitAtEnd(t: TestContext, children: FakeChildren): void {
  t.after(() => {
    for (const child of children.all) child.exit()
  })
}

function serviceSlot(t: TestContext) {
  const children = new FakeChildren()
  exitAtEnd(t, children)
  const reports: (ServiceEvent | DevEvent)[] = []
  const clock = { now: 0 }
  const slot = new ServiceSlot({
    url: SERVICE_URL,
    env: ENV,
    entry: ENTRY,
    launch: children.spawn,
    report: (event) => reports.push(event),
    now: () => clock.now,
  })
  return { slot, children, reports, clock }
}

const types = (reports: readonly { type: string }[]) => reports.map((event) => event.type)

test('a standby is warmed once, and starting makes it the instance: a go message, not a new process', async (t) => {
  const { slot, children, reports, clock } = serviceSlot(t)
  slot.warmStandby()
  slot.warmStandby()
  assert.equal(children.all.length, 1)
  const [standby] = children.all
  assert.deepEqual([standby?.spec.role, standby?.spec.env, standby?.entry], ['service', ENV, null])

  clock.now = 1000
  const started = slot.start(400)
  assert.equal(children.all.length, 1, 'no new process')
  assert.equal(standby?.entry, ENTRY)
  assert.equal(slot.listener, null, 'not listed before it listens')

  clock.now = 1250
  standby?.listen()
  await started
  assert.deepEqual(reports, [
    { type: 'listening', app: 1, url: 'http://127.0.0.1:1' },
    { type: 'process-listening', url: SERVICE_URL, pid: standby?.pid, afterMs: 850 },
  ])
  assert.deepEqual(slot.listener, { url: SERVICE_URL, pid: standby?.pid })
})

test('without a standby, a start launches a process and starts it at once', async (t) => {
  const { slot, children } = serviceSlot(t)
  void slot.start(0)
  assert.equal(children.all.length, 1)
  assert.equal(children.all[0]?.entry, ENTRY)
})

test('a stopped instance is reported, unlisted at once, and silent from then on; stop resolves on its exit', async (t) => {
  const { slot, children, reports } = serviceSlot(t)
  void slot.start(0)
  const [instance] = children.all
  assert.ok(instance)
  instance.listen()
  await settle()
  instance.exitsWhenStopped = false
  reports.length = 0

  let exited = false
  void slot.stopInstance()?.then(() => (exited = true))
  assert.deepEqual(instance.signals, ['SIGTERM'])
  assert.deepEqual(reports, [{ type: 'process-stopping', pid: instance.pid }])
  assert.equal(slot.listener, null)
  instance.publish({ type: 'store', app: 1, up: false })
  await settle()
  assert.equal(exited, false, 'it has not exited yet')

  instance.exit({ code: 0, signal: null })
  await settle()
  assert.equal(exited, true)
  assert.deepEqual(types(reports), ['process-stopping'], 'neither its event nor its exit is reported')
  assert.equal(slot.stopInstance(), null, 'nothing left to stop')
})

test('an instance that exits by itself is reported once; a standby that does is replaced unreported', async (t) => {
  const { slot, children, reports } = serviceSlot(t)
  void slot.start(0)
  slot.warmStandby()
  const [instance, standby] = children.all
  assert.ok(instance && standby)
  instance.listen()
  await settle()

  instance.exit({ code: 1, signal: null })
  await settle()
  assert.deepEqual(reports.at(-1), { type: 'process-exited', pid: instance.pid, exit: { code: 1, signal: null } })
  assert.equal(slot.listener, null)

  reports.length = 0
  standby.exit({ code: null, signal: 'SIGKILL' })
  await settle()
  assert.deepEqual(reports, [])
  slot.warmStandby()
  assert.equal(children.standbys().length, 1, 'a new standby')
  assert.notEqual(children.standbys()[0], standby)
})

test('dropping the standby stops it; the next start is cold', async (t) => {
  const { slot, children } = serviceSlot(t)
  slot.warmStandby()
  const [standby] = children.all
  slot.dropStandby()
  assert.deepEqual(standby?.signals, ['SIGTERM'])
  void slot.start(0)
  assert.equal(children.all.length, 2)
  assert.equal(children.all[1]?.entry, ENTRY)
})

test(`an instance that has not listened ${LISTEN_WAIT_MS / 1000} s after its start is reported once; one that listens is not`, async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const silent = serviceSlot(t)
  void silent.slot.start(0)
  t.mock.timers.tick(LISTEN_WAIT_MS)
  t.mock.timers.tick(LISTEN_WAIT_MS)
  const [child] = silent.children.all
  assert.deepEqual(silent.reports, [{ type: 'process-silent', pid: child?.pid, waitedMs: LISTEN_WAIT_MS }])

  const prompt = serviceSlot(t)
  void prompt.slot.start(0)
  prompt.children.all[0]?.listen()
  await settle()
  t.mock.timers.tick(LISTEN_WAIT_MS)
  assert.deepEqual(types(prompt.reports), ['listening', 'process-listening'])
})

test('a command goes to the listening instance; without one it is refused', async (t) => {
  const { slot, children } = serviceSlot(t)
  await assert.rejects(slot.command('expire', {}), /no instance listens on http:\/\/127\.0\.0\.1:3000/)
  void slot.start(0)
  const [instance] = children.all
  assert.ok(instance)
  instance.answers.expire = { expired: true }
  instance.listen()
  await settle()
  assert.deepEqual(await slot.command('expire', {}), { expired: true })
  assert.deepEqual(instance.commands, [{ name: 'expire', request: {} }])
})

test('a closed slot starts nothing more and reports nothing more', async (t) => {
  const { slot, children, reports } = serviceSlot(t)
  void slot.start(0)
  const [instance] = children.all
  slot.close()
  instance?.listen()
  instance?.exit({ code: 1, signal: null })
  await settle()
  slot.warmStandby()
  await slot.start(0)
  assert.equal(children.all.length, 1)
  assert.deepEqual(types(reports), ['listening'], 'only what it published before its exit')
})

function providerSlot(t: TestContext) {
  const children = new FakeChildren()
  exitAtEnd(t, children)
  const reports: (ServiceEvent | DevEvent)[] = []
  const slot = new ProviderSlot({
    url: 'http://127.0.0.1:4000',
    env: { PROVIDER_PORT: '4000' },
    entry: '/project/src/provider/mock-server.ts',
    launch: children.spawn,
    report: (event) => reports.push(event),
    now: () => 100,
  })
  return { slot, children, reports }
}

test('the provider: started from its entry, listed once it listens, its stop reported and its exit then not', async (t) => {
  const { slot, children, reports } = providerSlot(t)
  const started = slot.start(40)
  const [provider] = children.all
  assert.ok(provider)
  assert.deepEqual([provider.spec.role, provider.entry, slot.running], ['provider', '/project/src/provider/mock-server.ts', true])
  provider.listen()
  assert.equal(await started, true)
  assert.deepEqual(reports.at(-1), { type: 'process-listening', url: 'http://127.0.0.1:4000', pid: provider.pid, afterMs: 60 })
  assert.deepEqual(slot.listener, { url: 'http://127.0.0.1:4000', pid: provider.pid })

  await slot.stop()
  await settle()
  assert.deepEqual(types(reports).slice(-1), ['process-stopping'])
  assert.deepEqual([slot.running, slot.listener], [false, null])
})

test('the provider exiting before it listens: the start resolves false, the exit is reported', async (t) => {
  const { slot, children, reports } = providerSlot(t)
  const started = slot.start(0)
  children.all[0]?.exit({ code: 3, signal: null })
  assert.equal(await started, false)
  assert.deepEqual(reports, [{ type: 'process-exited', pid: children.all[0]?.pid, exit: { code: 3, signal: null } }])
  assert.equal(slot.running, false)
})
