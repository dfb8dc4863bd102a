// The restart policy and queue, over real slots with fake processes and a fake clock: what a
// save, a burst of saves, a key, a provider file, package.json and a crashing provider restart.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { WorkError } from '../src/errors.js'
import type { DevEvent } from '../src/dev/feed.js'
import { ProviderSlot } from '../src/dev/provider-slot.js'
import { Restarter } from '../src/dev/restarts.js'
import { ServiceSlot } from '../src/dev/service-slot.js'
import { FakeChildren, settle, type FakeChild } from './helpers/fake-child.js'

const QUIET_MS = 100

/** A Restarter over two instances and the provider, wired as the session wires them; timers are the test's. */
function restarterWithFakes(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const children = new FakeChildren()
  const clock = { now: 0 }
  const now = () => clock.now
  const restarts: DevEvent[] = []
  const givenUp: WorkError[] = []
  const services = [3000, 3001].map(
    (port) => new ServiceSlot({ url: `http://127.0.0.1:${port}`, env: {}, entry: '/p/src/server.ts', launch: children.spawn, report: () => {}, now }),
  )
  const provider = new ProviderSlot({
    url: 'http://127.0.0.1:4000',
    env: {},
    entry: '/p/src/provider/mock-server.ts',
    launch: children.spawn,
    // As the session does: a provider exiting by itself is the restarter's to handle.
    report: (event) => {
      if (event.type === 'process-exited') restarter.providerExited(event.exit)
    },
    now,
  })
  const restarter: Restarter = new Restarter({
    services,
    provider,
    report: (event) => restarts.push(event),
    giveUp: (error) => givenUp.push(error),
    now,
  })
  return { restarter, children, clock, restarts, givenUp }
}

/** Every process the test has not seen yet listens, the provider first; then their standbys warm. */
async function everyoneListens(children: FakeChildren): Promise<void> {
  await settle()
  children.providers().at(-1)?.listen()
  await settle()
  for (const instance of children.instances()) instance.listen()
  await settle()
}

async function runningSession(t: TestContext) {
  const fakes = restarterWithFakes(t)
  fakes.restarter.startAll()
  await everyoneListens(fakes.children)
  return fakes
}

const stopped = (processes: readonly FakeChild[]) => processes.every((child) => child.signals.includes('SIGTERM'))

test("dev's start: standbys warm while the provider starts, become the instances once it listens, and new ones warm after", async (t) => {
  const { restarter, children } = restarterWithFakes(t)
  restarter.startAll()
  await settle()
  assert.equal(children.providers().length, 1)
  const firstStandbys = children.standbys()
  assert.equal(firstStandbys.length, 2)

  children.providers()[0]?.listen()
  await settle()
  assert.deepEqual(children.instances(), firstStandbys, 'the standbys took over')
  assert.equal(children.standbys().length, 0, 'no new standby while the instances start')

  children.instances()[0]?.listen()
  await settle()
  assert.equal(children.standbys().length, 0, 'not before every instance listens')
  children.instances()[1]?.listen()
  await settle()
  assert.equal(children.standbys().length, 2)
})

test(`saves less than ${QUIET_MS} ms apart are one restart: the old instances stop at the first, the new start after the last`, async (t) => {
  const { restarter, children, restarts } = await runningSession(t)
  const old = children.instances()
  const standbys = children.standbys()
  const spawned = children.all.length

  restarter.fileChanged('src/routes/health.ts')
  assert.ok(stopped(old), 'stopped at once, during the debounce')
  for (const file of ['src/gate.ts', 'src/routes/health.ts', 'src/app.ts']) {
    t.mock.timers.tick(QUIET_MS - 1)
    restarter.fileChanged(file)
  }
  await settle()
  assert.equal(children.instances().length, 0, 'nothing starts within the burst')

  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.deepEqual(children.instances(), standbys, 'each slot promoted its standby once')
  assert.equal(children.all.length, spawned, 'no cold start')
  assert.deepEqual(restarts, [{ type: 'restart', cause: { kind: 'change', file: 'src/routes/health.ts' }, provider: false }])
  assert.deepEqual(children.providers()[0]?.signals, [], 'a service file leaves the provider running')
})

test('the new instances start only once the old ones have exited (their ports are free then)', async (t) => {
  const { restarter, children } = await runningSession(t)
  const old = children.instances()
  for (const instance of old) instance.exitsWhenStopped = false
  restarter.fileChanged('src/app.ts')
  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.equal(children.instances().length, 0)

  old[0]?.exit()
  await settle()
  assert.equal(children.instances().length, 0, 'one is still shutting down')
  old[1]?.exit()
  await settle()
  assert.equal(children.instances().length, 2)
})

test('a save during a restart waits in the queue, then restarts what that restart started', async (t) => {
  const { restarter, children, restarts } = await runningSession(t)
  const old = children.instances()
  const standbys = children.standbys()
  for (const instance of old) instance.exitsWhenStopped = false
  restarter.fileChanged('src/app.ts')
  t.mock.timers.tick(QUIET_MS)
  restarter.fileChanged('src/gate.ts')
  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.ok(standbys.every((standby) => standby.entry === null && standby.signals.length === 0), 'untouched while the first waits')

  for (const instance of old) instance.exit()
  await settle()
  assert.ok(standbys.every((standby) => standby.entry !== null), 'the first restart started them')
  assert.ok(stopped(standbys), 'the second stopped them')
  const instances = children.instances()
  assert.equal(instances.length, 2)
  assert.ok(instances.every((instance) => !standbys.includes(instance) && !old.includes(instance)))
  assert.equal(restarts.length, 2)
})

test("the provider's own files restart it before the instances; its client restarts the instances alone", async (t) => {
  const { restarter, children, restarts } = await runningSession(t)
  const [oldProvider] = children.providers()
  restarter.fileChanged('src/provider/mock-server.ts')
  assert.deepEqual(oldProvider?.signals, ['SIGTERM'])
  t.mock.timers.tick(QUIET_MS)
  await settle()
  const newProvider = children.providers()[1]
  assert.ok(newProvider, 'a new provider')
  assert.equal(children.instances().length, 0, 'the instances wait for it to listen')
  await everyoneListens(children)
  assert.equal(children.instances().length, 2)
  assert.deepEqual(restarts.at(-1), { type: 'restart', cause: { kind: 'change', file: 'src/provider/mock-server.ts' }, provider: true })

  restarter.fileChanged('src/provider/client.ts')
  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.deepEqual(newProvider.signals, [])
  assert.equal(children.providers().length, 2)
  assert.deepEqual(restarts.at(-1), { type: 'restart', cause: { kind: 'change', file: 'src/provider/client.ts' }, provider: false })
})

test('package.json drops the standbys, which loaded the old dependencies: the instances start cold', async (t) => {
  const { restarter, children } = await runningSession(t)
  const standbys = children.standbys()
  const spawned = children.all.length
  restarter.fileChanged('package.json')
  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.ok(stopped(standbys))
  const instances = children.instances()
  assert.equal(instances.length, 2)
  assert.ok(instances.every((instance) => children.all.indexOf(instance) >= spawned), 'new processes')
})

test('a restart asked for (r) restarts the instances, not the provider, and says why', async (t) => {
  const { restarter, children, restarts } = await runningSession(t)
  const old = children.instances()
  assert.equal(restarter.requestRestart('r pressed'), true)
  await settle()
  assert.ok(stopped(old))
  assert.equal(children.instances().length, 2)
  assert.deepEqual(children.providers()[0]?.signals, [])
  assert.deepEqual(restarts, [{ type: 'restart', cause: { kind: 'request', reason: 'r pressed' }, provider: false }])
})

test('a crashed provider is restarted with the instances; the third crash within 10 s gives up', async (t) => {
  const { children, clock, restarts, givenUp } = await runningSession(t)
  for (const [crash, at] of [1_000, 4_000].entries()) {
    clock.now = at
    const instances = children.instances()
    children.providers().at(-1)?.exit({ code: 3, signal: null })
    await settle()
    assert.deepEqual(restarts.at(-1), { type: 'restart', cause: { kind: 'provider-exited', exit: { code: 3, signal: null } }, provider: true })
    assert.ok(stopped(instances), `crash ${crash + 1}: the instances restart with it`)
    await everyoneListens(children)
    assert.equal(children.instances().length, 2)
  }
  assert.equal(givenUp.length, 0)

  clock.now = 10_999
  children.providers().at(-1)?.exit({ code: 3, signal: null })
  await settle()
  assert.deepEqual(
    givenUp.map((error) => error.message),
    ['the provider crashed 3 times within 10 s; see its output above.'],
  )
  assert.equal(restarts.length, 2, 'no restart after giving up')
})

test('provider crashes further apart than 10 s never add up', async (t) => {
  const { children, clock, givenUp, restarts } = await runningSession(t)
  for (let crash = 1; crash <= 4; crash++) {
    clock.now = crash * 6_000
    children.providers().at(-1)?.exit({ code: 3, signal: null })
    await settle()
    await everyoneListens(children)
  }
  assert.deepEqual(givenUp, [])
  assert.equal(restarts.length, 4)
})

test('once closed, a pending burst restarts nothing and nothing more is restarted', async (t) => {
  const { restarter, children, restarts } = await runningSession(t)
  restarter.fileChanged('src/app.ts')
  restarter.close()
  t.mock.timers.tick(QUIET_MS)
  await settle()
  assert.equal(children.instances().length, 0)
  assert.equal(restarter.requestRestart('r pressed'), false)
  restarter.fileChanged('src/gate.ts')
  assert.equal(restarts.length, 1, 'only the change before closing')
})
