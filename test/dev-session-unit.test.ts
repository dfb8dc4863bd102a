// The session against fake processes: dev.json, the keys, dev's lines, the feed, the actions and
// how it stops. A real dev.json in a temporary folder; no process, no watcher, no terminal.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FeedEvent } from '../src/dev/feed.js'
import { IgnoredMessages } from '../src/dev/ignored-messages.js'
import type { KeyHandlers } from '../src/dev/keys.js'
import { LogView, serviceTags } from '../src/dev/log-view.js'
import { DevSession, type SessionEnd } from '../src/dev/session.js'
import { StateFile } from '../src/dev/state-file.js'
import { devStatePath, PROVIDER_ROUTES, readDevState } from '../src/project/contract.js'
import { FakeChildren, settle } from './helpers/fake-child.js'
import { tempDir } from './helpers/temp.js'

const PROVIDER_URL = 'http://127.0.0.1:4000'

interface SessionOptions {
  instances?: number
  /** Where the provider's callback-now route is answered. */
  providerUrl?: string
}

/** A session over fake processes, its keys pressed by the test; run at once. */
function runSession(t: TestContext, { instances = 1, providerUrl = PROVIDER_URL }: SessionOptions = {}) {
  const root = tempDir(t)
  const tags = serviceTags(instances)
  const lines: string[] = []
  const view = new LogView(tags, (text) => lines.push(text.trimEnd()))
  const children = new FakeChildren()
  const keys: { handlers: KeyHandlers | null; released: boolean } = { handlers: null, released: false }
  const session = new DevSession({
    root,
    services: tags.map((tag, index) => ({ tag, url: `http://127.0.0.1:${3000 + index}`, env: {} })),
    provider: { url: providerUrl, env: {} },
    watch: false,
    view,
    stateFile: new StateFile(root),
    ignoredMessages: new IgnoredMessages(view, { verbose: false }),
    countdown: false,
    spawnChild: children.spawn,
    keys: (handlers) => {
      keys.handlers = handlers
      return () => (keys.released = true)
    },
  })
  const outcome: { end: SessionEnd | null; error: Error | null } = { end: null, error: null }
  const ended = session.run().then(
    (end) => void (outcome.end = end),
    (error: Error) => void (outcome.error = error),
  )
  t.after(async () => {
    // Whatever the test did, the session ends, and with it every fake.
    const quitting = session.quit()
    for (const child of children.all) child.exit()
    await quitting
    await ended
  })
  const pressed = () => {
    assert.ok(keys.handlers, 'the session reads keys')
    return keys.handlers
  }
  return { root, session, children, lines, keys, pressed, outcome, ended, devState: () => readDevState(devStatePath(root)) }
}

/** The provider listens, then every instance. */
async function everyoneListens(children: FakeChildren): Promise<void> {
  await settle()
  children.providers().at(-1)?.listen()
  await settle()
  for (const instance of children.instances()) instance.listen()
  await settle()
}

test('dev.json names the processes that listen, read through the contract; a crash is told and unlisted; a stop removes it', async (t) => {
  const { children, lines, session, devState, ended, outcome } = runSession(t)
  assert.deepEqual(devState(), { pid: process.pid, services: [], provider: null }, 'claimed at the start')

  await everyoneListens(children)
  const [provider] = children.providers()
  const [instance] = children.instances()
  assert.ok(provider && instance)
  assert.deepEqual(devState(), {
    pid: process.pid,
    services: [{ url: 'http://127.0.0.1:3000', pid: instance.pid }],
    provider: { url: PROVIDER_URL, pid: provider.pid },
  })
  assert.deepEqual(session.state, devState())
  assert.match(lines.join('\n'), /^gatekeep │ provider listening on http:\/\/127\.0\.0\.1:4000 after \d+ ms$/m)
  assert.match(lines.join('\n'), /^gatekeep │ service listening on http:\/\/127\.0\.0\.1:3000 after \d+ ms$/m)

  instance.exit({ code: 1, signal: null })
  await settle()
  assert.deepEqual(devState()?.services, [])
  assert.equal(lines.at(-1), 'gatekeep │ the service exited with code 1; waiting for a change to restart it')

  session.requestStop('SIGTERM')
  assert.equal(lines.at(-1), 'gatekeep │ SIGTERM received: stopping (again to force)')
  await ended
  assert.equal(outcome.end, 'stopped')
  assert.ok(children.all.every((child) => child.hasExited))
  assert.equal(devState(), null)
})

test('keys: r restarts the service, f has the provider call back now, q stops and gives the terminal back', async (t) => {
  let callbacks = 0
  const provider = createServer((request, response) => {
    if (request.method === 'POST' && request.url === PROVIDER_ROUTES.callbackNow) callbacks += 1
    response.setHeader('content-type', 'application/json').end(JSON.stringify({ delivering: 1 }))
  })
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    provider.closeAllConnections()
    provider.close()
  })
  const providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`
  const { children, lines, keys, pressed, ended, outcome } = runSession(t, { providerUrl })
  assert.ok(lines.includes('gatekeep │ keys: r restart · f provider calls back now · q quit'))
  await everyoneListens(children)

  const [first] = children.instances()
  pressed().restart()
  await settle()
  assert.ok(lines.includes('gatekeep │ restarting the service: r pressed'))
  assert.deepEqual(first?.signals, ['SIGTERM'])
  assert.equal(children.instances().length, 1)

  pressed().fire()
  // A real request to the provider: waited for, within a bound.
  const deadline = Date.now() + 10_000
  while (!lines.includes('gatekeep │ the provider calls back now (1 pending)')) {
    assert.ok(Date.now() < deadline, lines.join('\n'))
    await sleep(10)
  }
  assert.equal(callbacks, 1)

  pressed().quit()
  assert.equal(lines.at(-1), 'gatekeep │ q pressed: stopping (Ctrl-C to force)')
  // Still read while the children stop, so that a Ctrl-C meanwhile forces; given back after.
  assert.equal(keys.released, false)
  await ended
  assert.equal(outcome.end, 'stopped')
  assert.equal(keys.released, true)
})

test('Ctrl-C twice: the first stops gracefully, the second kills every child; dev never signals itself', async (t) => {
  const kill = t.mock.method(process, 'kill')
  const { children, lines, pressed, ended, outcome, devState } = runSession(t)
  await everyoneListens(children)
  for (const child of children.all) child.exitsWhenStopped = false

  pressed().interrupt()
  assert.equal(lines.at(-1), 'gatekeep │ SIGINT received: stopping (again to force)')
  await settle()
  assert.ok(children.all.every((child) => child.signals.join() === 'SIGTERM'), 'every child asked to stop')
  assert.equal(outcome.end, null, 'still stopping')

  pressed().interrupt()
  await ended
  assert.equal(outcome.end, 'forced')
  assert.ok(children.all.every((child) => child.signals.join() === 'SIGTERM,SIGKILL'))
  assert.equal(devState(), null)
  assert.deepEqual(kill.mock.calls.filter(({ arguments: [pid] }) => pid === process.pid), [], 'no signal to itself')
})

for (const [source, flag] of [
  ['service', '--port'],
  ['provider', '--provider-port'],
] as const) {
  test(`a ${source} that cannot listen ends dev, naming its port and ${flag}; everything stops`, async (t) => {
    const { children, ended, outcome, devState } = runSession(t)
    await settle()
    if (source === 'service') {
      children.providers()[0]?.listen()
      await settle()
    }
    const child = source === 'service' ? children.instances()[0] : children.providers()[0]
    const port = source === 'service' ? 3000 : 4000
    child?.publish({ type: 'listen-failed', app: 1, code: 'EADDRINUSE', message: 'address already in use' })
    await ended
    assert.equal(outcome.error?.message, `the ${source} cannot listen: port ${port} is already in use; stop what listens there or pass ${flag}.`)
    assert.ok(children.all.every((each) => each.hasExited))
    assert.equal(devState(), null)
  })
}

test('a provider that keeps crashing ends dev with the reason', async (t) => {
  const { children, lines, ended, outcome } = runSession(t)
  for (let crash = 1; crash <= 3; crash++) {
    await everyoneListens(children)
    children.providers().at(-1)?.exit({ code: 3, signal: null })
  }
  await ended
  assert.equal(outcome.error?.message, 'the provider crashed 3 times within 10 s; see its output above.')
  assert.equal(lines.filter((line) => line.includes('the provider exited with code 3; restarting it and the service')).length, 2)
})

test('the feed: every event with its source and time, in order, to each subscriber until it unsubscribes', async (t) => {
  const { session, children, lines } = runSession(t, { instances: 2 })
  const feed: FeedEvent[] = []
  const unsubscribe = session.subscribe((event) => feed.push(event))
  await everyoneListens(children)
  const [first] = children.instances()
  first?.publish({ type: 'gate', app: 1, state: 'awaiting-webhook', from: 'claiming', etaMs: 1000 })
  session.restart('from a test')
  await settle()

  const seen = feed.map(({ source, type }) => `${source} ${type}`)
  assert.deepEqual(seen.slice(0, 6), [
    'provider listening',
    'provider process-listening',
    'service#0 listening',
    'service#1 listening',
    'service#0 process-listening',
    'service#1 process-listening',
  ])
  assert.deepEqual(seen.slice(6, 10), ['service#0 gate', 'gatekeep restart', 'service#0 process-stopping', 'service#1 process-stopping'])
  assert.ok(feed.every(({ at }) => Math.abs(at - Date.now()) < 60_000), 'stamped with the time')
  assert.ok(lines.includes('gatekeep  │ service#0: gate pending: customer routes answer 503 until the provider calls back, in 1.0 s'))
  assert.ok(lines.includes('gatekeep  │ restarting the 2 services: from a test'))

  unsubscribe()
  const count = feed.length
  await everyoneListens(children)
  assert.equal(feed.length, count)
})

test('expire asks a listening instance; with none listening it is refused', async (t) => {
  const { session, children } = runSession(t)
  await assert.rejects(session.expire(), /no service instance is listening/)
  await everyoneListens(children)
  const [instance] = children.instances()
  assert.ok(instance)
  instance.answers.expire = { expired: true }
  assert.equal(await session.expire(), true)
  assert.deepEqual(instance.commands, [{ name: 'expire', request: {} }])
})
