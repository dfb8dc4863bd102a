// The CLI's contract module (src/project/contract.ts) against the template's own definitions.
// The CLI never loads template code at run time; these tests do, so that the two cannot drift
// apart unnoticed. The type-level checks below fail `npm run typecheck`; the rest fail here.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import Fastify from 'fastify'
import {
  CHANNEL_PREFIX,
  EVENT_TYPES,
  METRICS,
  PROJECT_DEFAULTS,
  PROVIDER_MODES,
  PROVIDER_ROUTES,
  devStatePath,
  parseServiceEvent,
  readDevState,
  serializeDevState,
  type EventType,
  type ServiceEvent,
} from '../src/project/contract.js'
import { DEFAULT_SETTINGS } from '../src/project/settings.js'
import app, { serverOptions } from '../templates/service/src/app.js'
import { loadConfig, readProjectSetting } from '../templates/service/src/config.js'
import {
  CHANNEL_PREFIX as TEMPLATE_CHANNEL_PREFIX,
  EVENT_TYPES as TEMPLATE_EVENT_TYPES,
  ServiceEvents as TemplateServiceEvents,
  type GatekeepEvents,
  type Published,
} from '../templates/service/src/events.js'
import { buildMockProvider, MOCK_PROVIDER_DEFAULTS, PROVIDER_MODES as TEMPLATE_PROVIDER_MODES } from '../templates/service/src/provider/mock.js'
import { tempDir } from './helpers/temp.js'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

// Each event as the template publishes it is the CLI's event of that type, and the reverse: a
// field added, removed or retyped on either side fails the typecheck here.
const eventsAgree: { [T in EventType]: Same<Published<T>, ServiceEvent<T>> } = {
  listening: true,
  'listen-failed': true,
  gate: true,
  handshake: true,
  webhook: true,
  requests: true,
  abort: true,
  store: true,
  shutdown: true,
  breaker: true,
}

const SECRET = `whsec_${randomBytes(32).toString('base64')}`

/** Every type's events as the template types them: the smallest, and one with every field. */
const SAMPLES: { [T in keyof GatekeepEvents]: GatekeepEvents[T][] } = {
  listening: [{ url: 'http://127.0.0.1:3000' }],
  'listen-failed': [
    { code: 'EADDRINUSE', message: 'port 3000 is already in use' },
    { code: null, message: 'no' },
  ],
  gate: [
    { state: 'claiming', from: 'idle' },
    {
      state: 'awaiting-webhook',
      from: 'authorizing',
      reason: 'gate-failed',
      etaMs: 900,
      requestId: 'r-1',
      attempt: 2,
      lastError: 'timeout',
    },
    { state: 'open', from: 'awaiting-webhook', elapsedMs: 1200, refresh: 'backing-off' },
  ],
  handshake: [
    { outcome: 'started', attempt: 1 },
    { outcome: 'completed', attempt: 1, requestId: 'r-1', expiresAt: null, refreshed: true },
    { outcome: 'failed', attempt: 2, error: 'provider-error', message: 'HTTP 500', retryInMs: 400 },
  ],
  webhook: [
    { outcome: 'received', reqId: 'q-1', requestId: 'r-1' },
    { outcome: 'refused', reqId: 'q-2', refusal: 'bad-signature', reason: 'no matching signature' },
  ],
  requests: [{ intervalMs: 100, total: 3, byStatus: { '200': 1, '503': 2 }, byCause: { gate: 2 }, aborted: 0 }],
  abort: [
    { requestId: 'a-1', detectedAt: 1_700_000_000_000.5, detectedAfterMs: 3, cancelled: true },
    { requestId: 'a-2', detectedAt: 1_700_000_000_001, detectedAfterMs: 1, cancelled: null },
  ],
  store: [{ up: false }],
  shutdown: [
    { phase: 'draining', signal: 'SIGTERM', drainMs: 1000 },
    { phase: 'closing', signal: null },
  ],
  breaker: [{ state: 'open' }, { state: 'half-open' }, { state: 'closed' }],
}

test('the event types and channel names are the template\'s', () => {
  assert.ok(Object.values(eventsAgree).every(Boolean))
  assert.deepEqual([...EVENT_TYPES], [...TEMPLATE_EVENT_TYPES])
  assert.equal(CHANNEL_PREFIX, TEMPLATE_CHANNEL_PREFIX)
})

test('every event the template publishes, on the channel the CLI subscribes to, passes the CLI\'s check', () => {
  const received: unknown[] = []
  const collect = (message: unknown) => received.push(message)
  for (const type of EVENT_TYPES) subscribe(`${CHANNEL_PREFIX}${type}`, collect)
  const events = new TemplateServiceEvents()
  try {
    for (const type of TEMPLATE_EVENT_TYPES) {
      for (const sample of SAMPLES[type]) events.publish(type, sample as never)
    }
  } finally {
    events.close()
    for (const type of EVENT_TYPES) unsubscribe(`${CHANNEL_PREFIX}${type}`, collect)
  }
  assert.equal(received.length, Object.values(SAMPLES).flat().length)
  for (const message of received) assert.deepEqual(parseServiceEvent(message), message, JSON.stringify(message))
})

test('a message off the vocabulary is refused, whatever is wrong with it', () => {
  const valid = { type: 'gate', app: 1, state: 'open', from: 'awaiting-webhook', elapsedMs: 5 }
  assert.deepEqual(parseServiceEvent(valid), valid)
  assert.deepEqual(parseServiceEvent({ ...valid, extra: 'a newer field' }), { ...valid, extra: 'a newer field' })
  for (const message of [
    null,
    'gate',
    42,
    [],
    { ...valid, type: 'teleport' },
    { ...valid, app: undefined },
    { ...valid, app: '1' },
    { ...valid, state: 'sideways' },
    { ...valid, from: undefined },
    { ...valid, elapsedMs: 'soon' },
    { ...valid, reason: 'bored' },
    { type: 'listening', app: 1 },
    { type: 'listen-failed', app: 1, code: 98, message: 'x' },
    { type: 'abort', app: 1, requestId: 'a', detectedAfterMs: 1, cancelled: 'yes', detectedAt: 1 },
    { type: 'abort', app: 1, requestId: 'a', detectedAfterMs: 1, cancelled: null },
    { type: 'requests', app: 1, intervalMs: 100, total: 1, byStatus: { '200': 'one' }, byCause: {}, aborted: 0 },
    { type: 'store', app: 1, up: 'yes' },
    { type: 'breaker', app: 1, state: 'ajar' },
    { type: 'listening', unsendable: 'Do not know how to serialize a BigInt' },
  ]) {
    assert.equal(parseServiceEvent(message), null, JSON.stringify(message))
  }
})

test("the provider modes are the mock provider's, and its routes answer", async () => {
  assert.deepEqual([...PROVIDER_MODES], [...TEMPLATE_PROVIDER_MODES])
  const provider = buildMockProvider({ ...MOCK_PROVIDER_DEFAULTS, secret: SECRET }, { logger: false })
  try {
    assert.equal((await provider.inject({ method: 'GET', url: PROVIDER_ROUTES.stats })).statusCode, 200)
    assert.equal((await provider.inject({ method: 'POST', url: PROVIDER_ROUTES.callbackNow })).statusCode, 200)
    assert.equal((await provider.inject({ method: 'POST', url: PROVIDER_ROUTES.mode, payload: { mode: 'reject' } })).statusCode, 200)
  } finally {
    await provider.close()
  }
})

test("the defaults 3000/4000/5000 are the template's, and the CLI's settings use them", () => {
  const bare = { name: 'contract', settings: {} }
  assert.deepEqual(
    { port: readProjectSetting({}, bare, 'port'), providerPort: readProjectSetting({}, bare, 'providerPort'), delay: readProjectSetting({}, bare, 'delay') },
    { ...PROJECT_DEFAULTS },
  )
  assert.deepEqual({ port: DEFAULT_SETTINGS.port, providerPort: DEFAULT_SETTINGS.providerPort, delay: DEFAULT_SETTINGS.delay }, { ...PROJECT_DEFAULTS })
})

test('the metrics gatekeep reads are the ones the service exposes', async () => {
  const config = loadConfig({ WEBHOOK_SECRET: SECRET, PROVIDER_URL: 'http://127.0.0.1:9' }, { name: 'contract', settings: {} })
  const server = Fastify({ ...serverOptions(config), logger: false })
  try {
    await server.register(app, { config })
    const metrics = await server.inject({ method: 'GET', url: '/metrics' })
    assert.equal(metrics.statusCode, 200)
    for (const name of Object.values(METRICS)) assert.match(metrics.body, new RegExp(`^# TYPE ${name} counter$`, 'm'), name)
  } finally {
    await server.close()
  }
})

test('dev.json: what the writer writes, the reader reads; anything else is no session', (t) => {
  const root = tempDir(t)
  const file = devStatePath(root)
  assert.equal(readDevState(file), null, 'absent')
  mkdirSync(path.dirname(file))
  const state = { pid: 12, services: [{ url: 'http://127.0.0.1:3000', pid: 13 }], provider: { url: 'http://127.0.0.1:4000', pid: 14 } }
  writeFileSync(file, serializeDevState(state))
  assert.deepEqual(readDevState(file), state)
  const withConsole = { ...state, console: { url: 'http://127.0.0.1:4001/', token: 'test-token-0123456789abcdef' } }
  writeFileSync(file, serializeDevState(withConsole))
  assert.deepEqual(readDevState(file), withConsole)
  for (const text of ['', '{"pid":', '[]', '{"pid":0,"services":[],"provider":null}', '{"pid":12,"services":[{"url":3}],"provider":null}', '{"pid":12,"services":[]}', '{"pid":12,"services":[],"provider":null,"console":{"url":"http://127.0.0.1:4001/"}}']) {
    writeFileSync(file, text)
    assert.equal(readDevState(file), null, text)
  }
})
