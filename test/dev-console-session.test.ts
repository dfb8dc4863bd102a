// The console's view of a dev session, from the session's feed: the snapshot a late page starts
// from, the events it is told, and a restart told once every instance listens again.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ActionResult, ConsoleEvent } from '../src/console/types.js'
import { DevConsoleSession } from '../src/dev/console-session.js'
import type { FeedEvent } from '../src/dev/feed.js'

const applied = (changed: string) => async (): Promise<ActionResult> => ({ applied: true, changed })

function session(now = () => 1_000_000) {
  const calls: string[] = []
  const console = new DevConsoleSession({
    services: [
      { source: 'service#0', url: 'http://127.0.0.1:3000' },
      { source: 'service#1', url: 'http://127.0.0.1:3001' },
    ],
    provider: { url: 'http://127.0.0.1:4000', mode: 'ok' },
    modes: ['ok', 'reject'],
    trafficRps: 2,
    now,
    actions: {
      fire: applied('fired'),
      restart: applied('restarted'),
      expire: applied('expired'),
      setMode: async (mode) => (calls.push(`mode ${mode}`), { applied: true, changed: `provider mode: ${mode}` }),
      setTraffic: async (rps) => (calls.push(`traffic ${rps}`), { applied: false, reason: 'no' }),
      abort: async (count) => (calls.push(`abort ${count}`), { applied: true, changed: `${count}` }),
    },
  })
  const told: ConsoleEvent[] = []
  console.subscribe((event) => told.push(event))
  return { console, told, calls }
}

const feed = (event: Record<string, unknown>) => event as unknown as FeedEvent

test('the snapshot starts with the instances, the provider, the traffic and the modes', () => {
  const { console } = session()
  const snapshot = console.snapshot()
  assert.equal(snapshot.type, 'snapshot')
  assert.equal(snapshot.source, 'gatekeep')
  assert.deepEqual(snapshot.services, [
    { source: 'service#0', url: 'http://127.0.0.1:3000', listening: false, gate: null },
    { source: 'service#1', url: 'http://127.0.0.1:3001', listening: false, gate: null },
  ])
  assert.deepEqual(snapshot.provider, { url: 'http://127.0.0.1:4000', listening: false, mode: 'ok' })
  assert.deepEqual(snapshot.traffic, { rps: 2 })
  assert.deepEqual(snapshot.modes, ['ok', 'reject'])
  assert.deepEqual([snapshot.recent, snapshot.requests], [[], []])
})

test("children's events are told without their app; the last gate and listening are kept", () => {
  const { console, told } = session()
  console.tell(feed({ type: 'process-listening', source: 'service#1', at: 5, url: 'http://127.0.0.1:3001', pid: 9, afterMs: 40 }))
  console.tell(feed({ type: 'process-listening', source: 'provider', at: 5, url: 'http://127.0.0.1:4000', pid: 8, afterMs: 40 }))
  console.tell(feed({ type: 'gate', app: 0, source: 'service#1', at: 6, state: 'awaiting-webhook', from: 'authorizing', etaMs: 3000 }))
  console.tell(feed({ type: 'requests', app: 0, source: 'service#1', at: 1_000_000, intervalMs: 1000, total: 2, byStatus: { 503: 2 }, byCause: { gate: 2 }, aborted: 0 }))
  assert.deepEqual(told.map(({ type }) => type), ['gate', 'requests'])
  assert.equal('app' in (told[0] as object), false)
  const snapshot = console.snapshot()
  assert.equal(snapshot.services[1]?.listening, true)
  assert.equal(snapshot.services[0]?.listening, false)
  assert.equal(snapshot.provider.listening, true)
  assert.deepEqual(snapshot.services[1]?.gate, { type: 'gate', source: 'service#1', at: 6, state: 'awaiting-webhook', from: 'authorizing', etaMs: 3000 })
  assert.deepEqual(snapshot.recent.map(({ type }) => type), ['gate'])
  assert.deepEqual(snapshot.requests.map(({ type }) => type), ['requests'])
  console.tell(feed({ type: 'process-stopping', source: 'service#1', at: 7, pid: 9 }))
  assert.equal(console.snapshot().services[1]?.listening, false)
})

test('a restart is told once every instance listens again, with its cause and duration', () => {
  const { console, told } = session()
  console.tell(feed({ type: 'restart', source: 'gatekeep', at: 100, cause: { kind: 'request', reason: 'r pressed' }, provider: false }))
  console.tell(feed({ type: 'process-listening', source: 'service#0', at: 150, url: 'u', pid: 1, afterMs: 50 }))
  assert.deepEqual(told, [])
  console.tell(feed({ type: 'process-listening', source: 'service#1', at: 282, url: 'u', pid: 2, afterMs: 182 }))
  assert.deepEqual(told, [{ type: 'restart', source: 'gatekeep', at: 282, cause: 'r pressed', durationMs: 182 }])
})

test('the recent events keep the latest 300, the request totals a minute', () => {
  let now = 1_000_000
  const { console } = session(() => now)
  for (let index = 0; index < 310; index += 1) console.tell(feed({ type: 'handshake', app: 0, source: 'service#0', at: index, outcome: 'started', attempt: index }))
  console.tell(feed({ type: 'requests', app: 0, source: 'service#0', at: now - 61_000, intervalMs: 1000, total: 0, byStatus: {}, byCause: {}, aborted: 0 }))
  console.tell(feed({ type: 'requests', app: 0, source: 'service#0', at: now, intervalMs: 1000, total: 0, byStatus: {}, byCause: {}, aborted: 0 }))
  const snapshot = console.snapshot()
  assert.equal(snapshot.recent.length, 300)
  assert.equal(snapshot.recent[0]?.attempt, 10)
  assert.deepEqual(snapshot.requests.map(({ at }) => at), [now])
  now += 60_001
  assert.deepEqual(console.snapshot().requests, [])
})

test("dev's own changes are told and kept; actions go to the session", async () => {
  const { console, told, calls } = session()
  console.tellDev({ type: 'provider-mode', mode: 'reject' })
  console.tellDev({ type: 'traffic', rps: 7 })
  assert.deepEqual(told.map(({ type, source }) => `${type} ${source}`), ['provider-mode provider', 'traffic gatekeep'])
  assert.equal(console.snapshot().provider.mode, 'reject')
  assert.equal(console.snapshot().traffic.rps, 7)
  assert.deepEqual(await console.fire(), { applied: true, changed: 'fired' })
  assert.deepEqual(await console.setMode('ok'), { applied: true, changed: 'provider mode: ok' })
  assert.deepEqual(await console.setTraffic(3), { applied: false, reason: 'no' })
  await console.abort(4)
  assert.deepEqual(calls, ['mode ok', 'traffic 3', 'abort 4'])
})
