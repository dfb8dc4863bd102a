import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { LogCapture, signedHeaders, startProvider, startService, waitFor } from './helper.js'

/** A service whose provider never calls back, so a handshake stays in flight for a known id. */
async function pendingService(t: TestContext): Promise<{ server: FastifyInstance; requestId: string }> {
  const provider = await startProvider(t, { mode: 'never' })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs })
  const requestId = await waitFor(() => logs.events('gate-pending')[0]?.requestId as string | undefined, {
    what: 'the handshake to start',
  })
  return { server, requestId }
}

function deliver(server: FastifyInstance, body: string, headers: Record<string, string>) {
  return server.inject({ method: 'POST', url: '/webhook', payload: body, headers })
}

async function assertGateUnchanged(server: FastifyInstance): Promise<void> {
  assert.equal(server.gate.isOpen, false)
  assert.equal((await server.inject('/health/ready')).json().reason, 'gate-pending')
}

test('a valid webhook for the handshake in flight opens the gate', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_test', expiresIn: 60 })
  const response = await deliver(server, body, signedHeaders(body))
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { received: true, applied: true })
  assert.equal(server.gate.isOpen, true)
  assert.equal(server.gate.key, 'mk_test')
})

test('bad webhooks are refused with 401/400/413 and never change the gate', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const good = JSON.stringify({ requestId, magicKey: 'mk_attacker' })
  const sixMinutesAgo = new Date(Date.now() - 6 * 60 * 1000)
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ['no signature headers', good, { 'content-type': 'application/json' }, 401],
    ['signed with another secret', good, signedHeaders(good, { secret: `whsec_${randomBytes(32).toString('base64')}` }), 401],
    ['a timestamp outside the 5-minute tolerance', good, signedHeaders(good, { timestamp: sixMinutesAgo }), 401],
    ['a body changed after signing', good.replace('mk_attacker', 'mk_tampered'), signedHeaders(good), 401],
    ['a non-numeric timestamp', good, { ...signedHeaders(good), 'webhook-timestamp': 'soon' }, 401],
    ['a signed body that is not JSON', '{"requestId":', signedHeaders('{"requestId":'), 400],
    ['a signed JSON array', '[]', signedHeaders('[]'), 400],
    ['a signed body without magicKey', JSON.stringify({ requestId }), signedHeaders(JSON.stringify({ requestId })), 400],
    [
      'a signed body with a negative expiresIn',
      JSON.stringify({ requestId, magicKey: 'k', expiresIn: -1 }),
      signedHeaders(JSON.stringify({ requestId, magicKey: 'k', expiresIn: -1 })),
      400,
    ],
    [
      'a signed body with an absurd expiresIn',
      JSON.stringify({ requestId, magicKey: 'k', expiresIn: 1e308 }),
      signedHeaders(JSON.stringify({ requestId, magicKey: 'k', expiresIn: 1e308 })),
      400,
    ],
  ]
  for (const [what, body, headers, status] of cases) {
    const response = await deliver(server, body, headers)
    assert.equal(response.statusCode, status, what)
    await assertGateUnchanged(server)
  }

  const huge = JSON.stringify({ requestId, magicKey: 'x'.repeat(70 * 1024) })
  const tooLarge = await deliver(server, huge, signedHeaders(huge))
  assert.equal(tooLarge.statusCode, 413)
  await assertGateUnchanged(server)

  // A signed body sent as text/plain is still verified as raw bytes and applied.
  const plain = JSON.stringify({ requestId, magicKey: 'mk_plain' })
  const accepted = await deliver(server, plain, { ...signedHeaders(plain), 'content-type': 'text/plain' })
  assert.equal(accepted.statusCode, 200)
  assert.equal(server.gate.key, 'mk_plain')
})

test('a key living longer than setTimeout can wait (40 days) keeps the gate open', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_long', expiresIn: 40 * 24 * 3600 })
  assert.equal((await deliver(server, body, signedHeaders(body))).statusCode, 200)
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(server.gate.isOpen, true)
})

test('a webhook for another requestId (stale) is acknowledged and ignored', { timeout: 5000 }, async (t) => {
  const { server } = await pendingService(t)
  const body = JSON.stringify({ requestId: randomUUID(), magicKey: 'mk_stale' })
  const response = await deliver(server, body, signedHeaders(body))
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { received: true, applied: false })
  await assertGateUnchanged(server)
})

test('a replayed webhook-id is acknowledged and applied only once', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_once' })
  const headers = signedHeaders(body)
  assert.deepEqual((await deliver(server, body, headers)).json(), { received: true, applied: true })

  // The provider rejects the key: the gate closes and a new handshake starts.
  server.gate.rejectKey('mk_once')
  assert.equal(server.gate.isOpen, false)
  const replay = await deliver(server, body, headers)
  assert.equal(replay.statusCode, 200)
  assert.deepEqual(replay.json(), { received: true, applied: false, duplicate: true })
  assert.equal(server.gate.isOpen, false)
})

test('fuzzed webhook bodies and headers: never a 5xx, never a changed gate', { timeout: 20_000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const headerValues = ['', 'v1,', 'v1,AAAA', 'v2,abc v1,def', '0', '-1', '99999999999', 'msg_1', '\u00ff', 'a'.repeat(2000)]
  const pick = <T>(values: T[]): T => values[Math.floor(Math.random() * values.length)] as T
  const bodies = () => [
    randomBytes(Math.floor(Math.random() * 300)).toString('latin1'),
    JSON.stringify({ requestId, magicKey: randomBytes(8).toString('hex'), expiresIn: pick([0, -5, 'x', null, 1e308, 3600]) }),
    JSON.stringify(pick([null, 1, 'str', [], { requestId: 1 }, { magicKey: 'k' }])),
    '{'.repeat(Math.floor(Math.random() * 500)),
  ]
  for (let i = 0; i < 300; i += 1) {
    const body = pick(bodies())
    const signed = signedHeaders(body)
    const headers: Record<string, string> = { 'content-type': pick(['application/json', 'text/plain', 'application/octet-stream']) }
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const choice = Math.random()
      if (choice < 0.6) headers[name] = signed[name] as string
      else if (choice < 0.9) headers[name] = pick(headerValues)
    }
    const response = await deliver(server, body, headers)
    assert.ok(response.statusCode < 500, `fuzz case ${i}: ${response.statusCode} for ${JSON.stringify({ body, headers })}`)
    // A well-formed signed body for the pending handshake may legitimately open the gate;
    // every other case must leave it closed.
    if (server.gate.isOpen) {
      const payload = JSON.parse(body) as { requestId: string; expiresIn?: unknown }
      assert.equal(payload.requestId, requestId)
      assert.ok(payload.expiresIn === undefined || (typeof payload.expiresIn === 'number' && payload.expiresIn > 0))
      assert.equal(headers['webhook-signature'], signed['webhook-signature'])
      return
    }
  }
  assert.equal(server.gate.key, null)
})

/** The same signed headers under Svix's names, as providers that sign through Svix send them. */
function svixNamed(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.replace(/^webhook-/, 'svix-'), value]))
}

test('svix-* headers, Svix\'s names for the same signature, open the gate', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_svix' })
  const headers = svixNamed(signedHeaders(body))
  assert.ok(!('webhook-id' in headers) && 'svix-signature' in headers)
  const response = await deliver(server, body, headers)
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { received: true, applied: true })
  assert.equal(server.gate.key, 'mk_svix')
})

test('a forged or incomplete signature under svix-* names is refused with 401', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const good = JSON.stringify({ requestId, magicKey: 'mk_attacker' })
  const forged = signedHeaders(good, { secret: `whsec_${randomBytes(32).toString('base64')}` })
  const valid = signedHeaders(good)
  const cases: Array<[string, string, Record<string, string>]> = [
    ['signed with another secret', good, svixNamed(forged)],
    ['a body changed after signing', good.replace('mk_attacker', 'mk_tampered'), svixNamed(valid)],
    ['a timestamp outside the tolerance', good, svixNamed(signedHeaders(good, { timestamp: new Date(Date.now() - 6 * 60 * 1000) }))],
    // As in Svix's verifier, a complete svix-* set is the one checked, whatever else is sent.
    ['a forged svix-* set beside a valid webhook-* set', good, { ...valid, ...svixNamed(forged) }],
    // Neither set is complete: the names are never mixed.
    [
      'svix-id with webhook-timestamp and webhook-signature',
      good,
      { 'svix-id': valid['webhook-id'] as string, 'webhook-timestamp': valid['webhook-timestamp'] as string, 'webhook-signature': valid['webhook-signature'] as string },
    ],
  ]
  for (const [what, body, headers] of cases) {
    const response = await deliver(server, body, headers)
    assert.equal(response.statusCode, 401, what)
    await assertGateUnchanged(server)
  }
})

test('the 401 for missing signature headers names both spellings', { timeout: 5000 }, async (t) => {
  const { server } = await pendingService(t)
  const response = await deliver(server, '{}', { 'content-type': 'application/json' })
  assert.equal(response.statusCode, 401)
  const { error } = response.json()
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'svix-id', 'svix-timestamp', 'svix-signature']) {
    assert.ok(error.includes(name), `${name} in ${error}`)
  }
})

test('a valid svix-* set wins over a forged webhook-* set, as in Svix\'s own verifier', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_mixed' })
  const forged = signedHeaders(body, { secret: `whsec_${randomBytes(32).toString('base64')}` })
  const response = await deliver(server, body, { ...forged, ...svixNamed(signedHeaders(body)) })
  assert.equal(response.statusCode, 200)
  assert.equal(server.gate.key, 'mk_mixed')
})

test('a replayed id is a duplicate whichever header names carried it', { timeout: 5000 }, async (t) => {
  const { server, requestId } = await pendingService(t)
  const body = JSON.stringify({ requestId, magicKey: 'mk_once' })
  const headers = signedHeaders(body)
  assert.deepEqual((await deliver(server, body, svixNamed(headers))).json(), { received: true, applied: true })

  server.gate.rejectKey('mk_once')
  for (const replay of [svixNamed(headers), headers]) {
    const response = await deliver(server, body, replay)
    assert.equal(response.statusCode, 200)
    assert.deepEqual(response.json(), { received: true, applied: false, duplicate: true })
    assert.equal(server.gate.isOpen, false)
  }
})
