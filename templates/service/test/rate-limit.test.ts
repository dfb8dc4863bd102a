import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { request } from 'undici'
import { CHANNEL_PREFIX, type Published } from '../src/events.js'
import { signedHeaders, startProvider, startService, waitFor, waitForOpen } from './helper.js'

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await request(url, { headers })
  return { status: response.statusCode, headers: response.headers, body: (await response.body.json()) as Record<string, unknown> }
}

async function postWebhook(url: string, body: string, headers: Record<string, string>) {
  const response = await request(`${url}/webhook`, { method: 'POST', body, headers })
  return { status: response.statusCode, headers: response.headers, body: (await response.body.json()) as Record<string, unknown> }
}

/** A webhook signed with another secret than the service's. */
function forgedHeaders(body: string): Record<string, string> {
  return signedHeaders(body, { secret: `whsec_${Buffer.from('not the provider, not the provider!').toString('base64')}` })
}

test("customer routes: past RATE_LIMIT_MAX a client gets 429 with Retry-After in the error shape, counted as the limiter's; the closed gate's 503s never count", { timeout: 10_000 }, async (t) => {
  const totals: Array<Published<'requests'>> = []
  const listener = (message: unknown) => totals.push(message as Published<'requests'>)
  // Before the app is built: served outcomes are counted only for a subscriber there at the start.
  subscribe(`${CHANNEL_PREFIX}requests`, listener)
  t.after(() => unsubscribe(`${CHANNEL_PREFIX}requests`, listener))
  const provider = await startProvider(t, { delayMs: 300 })
  const { server, url } = await startService(t, provider.url, { env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' } })

  for (let i = 0; i < 5; i += 1) {
    const refused = await get(`${url}/v1/data`)
    assert.equal(refused.status, 503)
    // The limiter never ran for it.
    assert.equal(refused.headers['x-ratelimit-remaining'], undefined)
  }
  await waitForOpen(server)

  const remaining = []
  for (let i = 0; i < 3; i += 1) {
    const served = await get(`${url}/v1/data`)
    assert.equal(served.status, 200)
    remaining.push(served.headers['x-ratelimit-remaining'])
  }
  assert.deepEqual(remaining, ['2', '1', '0'])

  const limited = await get(`${url}/v1/data`, { 'x-request-id': 'greedy-1' })
  assert.equal(limited.status, 429)
  const retryAfter = Number(limited.headers['retry-after'])
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`)
  assert.deepEqual(limited.body, { error: 'Too Many Requests', message: `too many requests; retry in ${retryAfter} s`, requestId: 'greedy-1' })
  assert.equal(limited.headers['x-request-id'], 'greedy-1')
  assert.equal((await provider.stats()).dataCalls, 3)
  // The POST route shares the client's count.
  assert.equal((await request(`${url}/v1/data`, { method: 'POST' }).then(async (response) => (await response.body.dump(), response.statusCode))), 429)

  const mine = () => totals.filter((event) => event.app === server.events.app)
  const sum = (pick: (event: Published<'requests'>) => number) => mine().reduce((total, event) => total + pick(event), 0)
  await waitFor(() => sum((event) => event.total) === 10, { what: 'ten requests told' })
  assert.equal(sum((event) => event.byCause.gate ?? 0), 5)
  assert.equal(sum((event) => event.byCause.limiter ?? 0), 2)
  assert.equal(sum((event) => event.byStatus['429'] ?? 0), 2)
})

test('the client is the socket address; X-Forwarded-For counts only from a proxy named in TRUST_PROXY', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 20 })
  const env = { RATE_LIMIT_MAX: '1' }
  const direct = await startService(t, provider.url, { env })
  const proxied = await startService(t, provider.url, { env: { ...env, TRUST_PROXY: '127.0.0.1' } })
  await Promise.all([waitForOpen(direct.server), waitForOpen(proxied.server)])

  // Not behind a trusted proxy: the header is anyone's to send, and changes nothing.
  assert.equal((await get(`${direct.url}/v1/data`, { 'x-forwarded-for': '203.0.113.1' })).status, 200)
  assert.equal((await get(`${direct.url}/v1/data`, { 'x-forwarded-for': '203.0.113.2' })).status, 429)

  // Behind it: each forwarded client has its own count.
  assert.equal((await get(`${proxied.url}/v1/data`, { 'x-forwarded-for': '203.0.113.1' })).status, 200)
  assert.equal((await get(`${proxied.url}/v1/data`, { 'x-forwarded-for': '203.0.113.1' })).status, 429)
  assert.equal((await get(`${proxied.url}/v1/data`, { 'x-forwarded-for': '203.0.113.2' })).status, 200)
})

test("webhook: a flood of forged webhooks is cut off with 429 after RATE_LIMIT_WEBHOOK_FAILURES, and the provider's valid one from the same address still opens the gate", { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 1000 })
  const { server, url } = await startService(t, provider.url, { env: { RATE_LIMIT_WEBHOOK_FAILURES: '3' } })

  // Valid webhooks never count: these are acknowledged and ignored (no handshake of theirs), or
  // answered 409 while the provider has not taken the handshake yet.
  const stale = JSON.stringify({ requestId: 'stale', magicKey: 'k' })
  await waitFor(async () => (await postWebhook(url, stale, signedHeaders(stale))).status === 200, { what: 'the handshake to be taken' })
  for (let i = 0; i < 5; i += 1) assert.equal((await postWebhook(url, stale, signedHeaders(stale))).status, 200)

  const body = JSON.stringify({ requestId: 'forged', magicKey: 'attacker-key' })
  const statuses = []
  for (let i = 0; i < 3; i += 1) statuses.push((await postWebhook(url, body, forgedHeaders(body))).status)
  // Unsigned ones fail the check too.
  const unsigned = await postWebhook(url, body, { 'content-type': 'application/json', 'x-request-id': 'flood-4' })
  const forged = await postWebhook(url, body, forgedHeaders(body))
  assert.deepEqual([...statuses, unsigned.status, forged.status], [401, 401, 401, 429, 429])
  const retryAfter = Number(unsigned.headers['retry-after'])
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${unsigned.headers['retry-after']}`)
  assert.deepEqual(unsigned.body, { error: 'Too Many Requests', message: `too many requests; retry in ${retryAfter} s`, requestId: 'flood-4' })

  // A valid webhook from the same address, cut off as it is, still goes through.
  assert.deepEqual((await postWebhook(url, stale, signedHeaders(stale))).body, { received: true, applied: false })
  // And the provider's own, from the same loopback address, opens the gate.
  await waitForOpen(server)
  assert.equal(server.gate.isOpen, true)
})

test('RATE_LIMIT=off: no limits on customer routes or on failed webhooks', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 20 })
  const { server, url } = await startService(t, provider.url, {
    env: { RATE_LIMIT: 'off', RATE_LIMIT_MAX: '1', RATE_LIMIT_WEBHOOK_FAILURES: '1' },
  })
  await waitForOpen(server)
  for (let i = 0; i < 3; i += 1) {
    const served = await get(`${url}/v1/data`)
    assert.equal(served.status, 200)
    assert.equal(served.headers['x-ratelimit-limit'], undefined)
  }
  const body = JSON.stringify({ requestId: 'forged', magicKey: 'k' })
  for (let i = 0; i < 3; i += 1) assert.equal((await postWebhook(url, body, forgedHeaders(body))).status, 401)
})
