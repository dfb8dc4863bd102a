// The rules every key obeys, wherever it comes from (webhook body or shared store), and the
// handshake taken once however many webhooks answer it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createMemoryStore } from '../src/store/memory.js'
import { isCredential, isHandshake, isWebhookPayload } from '../src/validate.js'
import { LogCapture, signedHeaders, startProvider, startService, waitFor } from './helper.js'

const YEAR_MS = 365 * 24 * 3600 * 1000

test('a webhook body: a request id, a non-empty bounded key, a lifetime in range if any', () => {
  const valid = { requestId: 'req_1', magicKey: 'mk_1', expiresIn: 60 }
  assert.ok(isWebhookPayload(valid))
  assert.ok(isWebhookPayload({ requestId: 'req_1', magicKey: 'mk_1' }))
  for (const invalid of [
    null,
    [],
    'mk_1',
    {},
    { ...valid, requestId: '' },
    { ...valid, requestId: 'r'.repeat(257) },
    { ...valid, magicKey: '' },
    { ...valid, magicKey: 42 },
    { ...valid, magicKey: 'k'.repeat(4097) },
    { ...valid, expiresIn: 0 },
    { ...valid, expiresIn: '60' },
    { ...valid, expiresIn: 11 * 365 * 24 * 3600 },
    { ...valid, expiresIn: null },
  ]) {
    assert.equal(isWebhookPayload(invalid), false, JSON.stringify(invalid))
  }
})

test('a stored credential: the same rules, its lifetime an instant or null', () => {
  const valid = { key: 'mk_1', expiresAt: Date.now() + 60_000, requestId: 'req_1' }
  assert.ok(isCredential(valid))
  assert.ok(isCredential({ ...valid, expiresAt: null }))
  assert.ok(isCredential({ ...valid, expiresAt: Date.now() - 1000 }), 'expired is the gate’s call, not malformed')
  for (const invalid of [
    null,
    [],
    {},
    { ...valid, key: '' },
    { ...valid, key: 'k'.repeat(4097) },
    { ...valid, key: undefined },
    { ...valid, requestId: '' },
    { ...valid, requestId: 7 },
    { ...valid, expiresAt: undefined },
    { ...valid, expiresAt: 'soon' },
    { ...valid, expiresAt: 0 },
    { ...valid, expiresAt: Number.NaN },
    { ...valid, expiresAt: Date.now() + 11 * YEAR_MS },
  ]) {
    assert.equal(isCredential(invalid), false, JSON.stringify(invalid))
  }
})

test('a stored handshake: a request id and a finite ETA', () => {
  assert.ok(isHandshake({ requestId: 'req_1', etaAt: Date.now() }))
  for (const invalid of [null, {}, { requestId: '', etaAt: 1 }, { requestId: 'req_1' }, { requestId: 'req_1', etaAt: '1' }, { requestId: 'req_1', etaAt: Infinity }]) {
    assert.equal(isHandshake(invalid), false, JSON.stringify(invalid))
  }
})

test('the memory store hands a handshake to one taker only, and only for its request id', async () => {
  const store = createMemoryStore()
  await store.setHandshake({ requestId: 'req_1', etaAt: Date.now() })
  assert.equal(await store.takeHandshake('req_2'), false)
  assert.deepEqual(await Promise.all([store.takeHandshake('req_1'), store.takeHandshake('req_1')]), [true, false])
  assert.equal(await store.takeHandshake('req_1'), false)
})

test('four concurrent webhooks for one handshake (memory store): exactly one is applied', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs })
  await waitFor(() => logs.events('gate-pending').length > 0, { what: 'a handshake' })
  const requestId = logs.events('gate-pending')[0]?.requestId as string

  const answers = await Promise.all(
    [0, 1, 2, 3].map(async (index) => {
      const magicKey = `mk_race_${index}`
      const body = JSON.stringify({ requestId, magicKey, expiresIn: 60 })
      const response = await server.inject({ method: 'POST', url: '/webhook', payload: body, headers: signedHeaders(body) })
      assert.equal(response.statusCode, 200)
      return { magicKey, body: response.json() as { received: boolean; applied: boolean } }
    }),
  )
  const applied = answers.filter(({ body }) => body.applied)
  assert.equal(applied.length, 1, 'exactly one applied')
  for (const { body } of answers.filter((answer) => !answer.body.applied)) {
    assert.deepEqual(body, { received: true, applied: false })
  }
  assert.equal(server.gate.key, applied[0]?.magicKey)
})
