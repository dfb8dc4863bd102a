// The event channels: each app hears its own, logs and metrics are their subscribers, and the
// hot path publishes nothing.
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { CHANNEL_PREFIX, EVENT_TYPES, ServiceEvents, type Published } from '../src/events.js'
import { build, LogCapture, signedHeaders, startProvider, startService, waitFor } from './helper.js'

test('an app subscribes to its own events only; anyone may subscribe to the channel itself', () => {
  const mine = new ServiceEvents()
  const other = new ServiceEvents()
  const heard: Array<Published<'store'>> = []
  const stop = mine.subscribe('store', (event) => heard.push(event))
  const everything: unknown[] = []
  const listener = (message: unknown) => everything.push(message)
  subscribe(`${CHANNEL_PREFIX}store`, listener)
  try {
    other.publish('store', { up: false })
    mine.publish('store', { up: true })
  } finally {
    stop()
    unsubscribe(`${CHANNEL_PREFIX}store`, listener)
  }
  assert.deepEqual(heard, [{ type: 'store', app: mine.app, up: true }])
  assert.deepEqual(everything, [
    { type: 'store', app: other.app, up: false },
    { type: 'store', app: mine.app, up: true },
  ])
})

test('two apps in one process: each logs its own events, not the other\'s', { timeout: 5000 }, async (t) => {
  const [firstLogs, secondLogs] = [new LogCapture(), new LogCapture()]
  const first = await build(t, { logs: firstLogs })
  await build(t, { logs: secondLogs })
  const body = JSON.stringify({ requestId: 'req-1', magicKey: 'mk_1' })
  const forged = signedHeaders(body, { secret: `whsec_${Buffer.from('another secret, not ours').toString('base64')}` })
  const response = await first.inject({ method: 'POST', url: '/webhook', payload: body, headers: { ...forged, 'x-request-id': 'forged-1' } })
  assert.equal(response.statusCode, 401)
  first.events.publish('store', { up: false })

  const [refused] = firstLogs.events('webhook-refused')
  assert.equal(refused?.reqId, 'forged-1', 'the line carries the id of the request that delivered it')
  assert.equal(refused?.msg, 'webhook refused: bad signature')
  assert.equal(firstLogs.events('store-unavailable').length, 1)
  assert.deepEqual(secondLogs.events('webhook-refused'), [])
  assert.deepEqual(secondLogs.events('store-unavailable'), [])
})

test('gatekeep_handshakes_total counts the handshake events by outcome; giving up is a failure', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  server.events.publish('handshake', { outcome: 'started', attempt: 1 })
  server.events.publish('handshake', { outcome: 'failed', attempt: 1, error: 'timeout', retryInMs: 100 })
  server.events.publish('handshake', { outcome: 'started', attempt: 2 })
  server.events.publish('handshake', { outcome: 'exhausted', attempt: 2, error: 'provider-error' })
  const metrics = (await server.inject('/metrics')).body
  assert.match(metrics, /^gatekeep_handshakes_total\{outcome="started"\} 2$/m)
  assert.match(metrics, /^gatekeep_handshakes_total\{outcome="failed"\} 2$/m)
})

test('a closed gate answers its 503s without publishing anything', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  const published: unknown[] = []
  const stops = EVENT_TYPES.filter((type) => type !== 'requests').map((type) => server.events.subscribe(type, (event) => published.push(event)))
  t.after(() => {
    for (const stop of stops) stop()
  })
  for (let i = 0; i < 20; i += 1) assert.equal((await server.inject('/v1/data')).statusCode, 503)
  assert.deepEqual(published, [])
})

test('the log lines keep their event names and fields, in order: pending, webhook received, open', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 50 })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs })
  await waitFor(() => server.gate.isOpen, { what: 'the gate to open' })
  const story = logs.lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter(({ event }) => event === 'gate-pending' || event === 'webhook-received' || event === 'gate-open')
  assert.deepEqual(
    story.map(({ event }) => event),
    ['gate-pending', 'webhook-received', 'gate-open'],
  )
  const [pending, received, open] = story
  assert.equal(typeof pending?.requestId, 'string')
  assert.ok(typeof pending?.etaMs === 'number' && pending.etaMs <= 50)
  assert.equal(received?.requestId, pending?.requestId)
  assert.equal(typeof received?.reqId, 'string')
  assert.equal(typeof open?.elapsedMs, 'number')
})

test('customer outcomes reach a subscriber of gatekeep:requests as totals per interval, by status and cause', { timeout: 10_000 }, async (t) => {
  const totals: Array<Published<'requests'>> = []
  const listener = (message: unknown) => totals.push(message as Published<'requests'>)
  // Subscribed before the app is built, as gatekeep dev's runner does: served outcomes are
  // counted only for a subscriber that was there at the start.
  subscribe(`${CHANNEL_PREFIX}requests`, listener)
  t.after(() => unsubscribe(`${CHANNEL_PREFIX}requests`, listener))
  const provider = await startProvider(t, { delayMs: 300 })
  const { server, url } = await startService(t, provider.url)
  const mine = () => totals.filter((event) => event.app === server.events.app)

  for (let i = 0; i < 5; i += 1) await (await fetch(`${url}/v1/data`)).text()
  await waitFor(() => server.gate.isOpen, { what: 'the gate to open' })
  for (let i = 0; i < 3; i += 1) await (await fetch(`${url}/v1/data`)).text()
  await waitFor(() => mine().reduce((sum, event) => sum + event.total, 0) === 8, { what: 'eight requests told' })

  const sum = (pick: (event: Published<'requests'>) => number) => mine().reduce((total, event) => total + pick(event), 0)
  assert.equal(sum((event) => event.byStatus['503'] ?? 0), 5)
  assert.equal(sum((event) => event.byCause.gate ?? 0), 5)
  assert.equal(sum((event) => event.byStatus['200'] ?? 0), 3)
  assert.equal(sum((event) => event.aborted), 0)
  assert.ok(mine().every((event) => event.intervalMs > 0))
  // Totals, not one message per request.
  assert.ok(mine().length < 8, `${mine().length} messages for 8 requests`)
})
