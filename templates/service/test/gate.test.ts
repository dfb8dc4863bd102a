import assert from 'node:assert/strict'
import { test } from 'node:test'
import { request } from 'undici'
import { backoffDelay } from '../src/gate-timers.js'
import { delay } from '../src/plugins/delay.js'
import { build, LogCapture, startProvider, startService, waitFor, waitForOpen } from './helper.js'

test('a closed gate answers 503 at once with Retry-After in seconds, and nothing behind it runs', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 4200, mode: 'ok' })
  const ran: string[] = []
  const { server } = await startService(t, provider.url, {
    extend: (app) =>
      app.register(
        delay(async (routes) => {
          routes.addHook('onRequest', async () => {
            ran.push('hook')
          })
          routes.get('/probe', async () => {
            ran.push('handler')
            return { ok: true }
          })
        }),
        { prefix: '/v1' },
      ),
  })
  // Until /authorize answers there is no ETA yet; then retryInMs counts down from 4200.
  await waitFor(() => {
    const status = server.gate.status()
    return !status.open && status.retryInMs > 3000
  }, { what: 'the handshake to be accepted' })

  for (const url of ['/v1/data', '/v1/probe']) {
    const response = await server.inject(url)
    assert.equal(response.statusCode, 503)
    const body = response.json()
    assert.equal(body.error, true)
    assert.ok(body.retryInMs > 3000 && body.retryInMs <= 4200, `retryInMs from the provider's ETA: ${body.retryInMs}`)
    // Seconds, rounded up, never the milliseconds the guide's sample sent.
    assert.equal(response.headers['retry-after'], String(Math.ceil(body.retryInMs / 1000)))
  }
  const post = await server.inject({ method: 'POST', url: '/v1/data', payload: { a: 1 } })
  assert.equal(post.statusCode, 503)
  assert.deepEqual(ran, [])
  assert.equal((await provider.stats()).dataCalls, 0)
})

test('routes outside the gate are never gated', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  assert.equal((await server.inject('/health/live')).statusCode, 200)
  assert.deepEqual((await server.inject('/ping')).json(), { error: false, ready: false })
  assert.equal((await server.inject('/metrics')).statusCode, 200)
})

test('the handshake starts on listen, a signed webhook opens the gate, customer routes serve', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 100 })
  const logs = new LogCapture()
  const { server, url } = await startService(t, provider.url, { logs })
  assert.equal(server.gate.isOpen, false)
  await waitForOpen(server)

  const get = await request(`${url}/v1/data`)
  assert.equal(get.statusCode, 200)
  assert.deepEqual(await get.body.json(), { customer: true, error: false })
  const post = await request(`${url}/v1/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ order: 42 }),
  })
  assert.equal(post.statusCode, 200)
  assert.deepEqual(await post.body.json(), { customer: true, error: false })

  const ready = await request(`${url}/health/ready`)
  assert.equal(ready.statusCode, 200)
  assert.deepEqual(await ready.body.json(), { status: 'ready', store: 'up', provider: 'ok' })
  assert.deepEqual(await (await request(`${url}/ping`)).body.json(), { error: false, ready: true })

  const stats = await provider.stats()
  assert.equal(stats.authorizations, 1)
  assert.equal(stats.dataCalls, 2)
  assert.equal(logs.events('gate-open').length, 1)
})

test('provider failures: 502 when it fails, 504 when slower than PROVIDER_TIMEOUT_MS', { timeout: 10_000 }, async (t) => {
  const slow = await startProvider(t, { mode: 'slow-data', slowDataMs: 2000 })
  const { server } = await startService(t, slow.url, { env: { PROVIDER_TIMEOUT_MS: '150' } })
  await waitForOpen(server)
  const timedOut = await server.inject('/v1/data')
  assert.equal(timedOut.statusCode, 504)
  assert.deepEqual(timedOut.json(), { customer: null, error: true })
  // The provider noticed its caller give up and stopped.
  await waitFor(async () => (await slow.stats()).dataCallsCancelled === 1, { what: 'the provider to see the hang-up' })

  const failing = await startProvider(t, { dataLatencyMs: 0 })
  const second = await startService(t, failing.url)
  await waitForOpen(second.server)
  await failing.close()
  const unreachable = await second.server.inject('/v1/data')
  assert.equal(unreachable.statusCode, 502)
  assert.deepEqual(unreachable.json(), { customer: null, error: true })
})

test('a key that expires closes the gate (key-expired) until a new handshake opens it', { timeout: 10_000 }, async (t) => {
  // The refresh handshake's webhook comes later than the expiry, so the gap is observable.
  const provider = await startProvider(t, { ttlS: 1, restartDelayMs: 1500 })
  const { server } = await startService(t, provider.url)
  await waitForOpen(server)

  const closed = await waitFor(async () => {
    const response = await server.inject('/health/ready')
    return response.statusCode === 503 ? response : null
  }, { what: 'the key to expire' })
  assert.equal(closed.json().reason, 'key-expired')
  assert.equal((await server.inject('/v1/data')).statusCode, 503)

  await waitForOpen(server)
  const stats = await provider.stats()
  // One refresh started before expiry (at GATE_REFRESH_AT of the lifetime); no extra one at expiry.
  assert.equal(stats.authorizations, 2)
})

test('a refresh before expiry keeps the gate open', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { ttlS: 1, restartDelayMs: 50 })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs })
  await waitForOpen(server)
  await waitFor(() => logs.events('key-refreshed').length >= 1, { what: 'a refresh' })
  assert.equal(logs.events('gate-closed').length, 0)
  assert.equal(server.gate.isOpen, true)
})

test('a key the provider rejects unused closes the gate, counts as a failed handshake and is retried after a backoff', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'wrong-key', restartDelayMs: 3000 })
  const { server } = await startService(t, provider.url, { env: { GATE_BACKOFF_BASE_MS: '400', GATE_BACKOFF_MAX_MS: '400' } })
  await waitForOpen(server)

  const refused = await server.inject('/v1/data')
  assert.equal(refused.statusCode, 503)
  assert.ok(Number(refused.headers['retry-after']) >= 1)
  const ready = await server.inject('/health/ready')
  assert.equal(ready.statusCode, 503)
  assert.equal(ready.json().reason, 'gate-failed')
  assert.equal(ready.json().lastError, 'key-rejected')
  await waitFor(async () => (await provider.stats()).authorizations === 2, { what: 'a new handshake' })
})

test('a failing provider: readiness says gate-failed, retries back off, then the gate opens', { timeout: 10_000 }, async (t) => {
  // flaky: the first authorization fails, the second succeeds.
  const provider = await startProvider(t, { mode: 'flaky' })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs, env: { GATE_BACKOFF_BASE_MS: '400', GATE_BACKOFF_MAX_MS: '400' } })
  const failed = await waitFor(async () => {
    const response = await server.inject('/health/ready')
    return response.json().reason === 'gate-failed' ? response : null
  }, { what: 'gate-failed' })
  assert.equal(failed.statusCode, 503)
  assert.ok(failed.json().retryInMs > 0)
  await waitForOpen(server)
  assert.equal((await provider.stats()).authorizations, 2)
  assert.equal(logs.events('handshake-failed').length, 1)
})

test('retries back off exponentially, capped, with jitter, and do not flood the provider', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'reject' })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, {
    logs,
    env: { GATE_BACKOFF_BASE_MS: '40', GATE_BACKOFF_MAX_MS: '160' },
  })
  await waitFor(() => logs.events('handshake-failed').length >= 6, { what: 'six failures' })
  const delays = logs.events('handshake-failed').map((entry) => entry.retryInMs as number)
  const ceilings = [40, 80, 160, 160, 160, 160]
  ceilings.forEach((ceiling, index) => {
    const delayMs = delays[index] as number
    assert.ok(delayMs >= ceiling / 2 && delayMs <= ceiling, `retry ${index + 1}: ${delayMs} ms within [${ceiling / 2}, ${ceiling}]`)
  })
  assert.equal(server.gate.isOpen, false)
  const { authorizations } = await provider.stats()
  // Six failures spaced by at least 20+40+80+80+80 ms: nothing like a tight loop.
  assert.ok(authorizations <= 8, `${authorizations} authorizations`)
})

test('backoffDelay doubles from the base, caps, and stays within [half, full] of the step', () => {
  assert.equal(backoffDelay(1, 100, 1000, () => 0), 50)
  assert.equal(backoffDelay(1, 100, 1000, () => 1), 100)
  assert.equal(backoffDelay(3, 100, 1000, () => 1), 400)
  assert.equal(backoffDelay(10, 100, 1000, () => 0.5), 750)
})

test('GATE_MAX_ATTEMPTS: the gate gives up after that many failures in a row', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'reject' })
  const { server } = await startService(t, provider.url, { env: { GATE_MAX_ATTEMPTS: '3' } })
  const error = await server.gate.exhausted
  assert.match(error.message, /500/)
  assert.equal((await provider.stats()).authorizations, 3)
  assert.equal((await server.inject('/health/ready')).json().reason, 'gate-failed')
})

test('no webhook within GATE_HANDSHAKE_TIMEOUT_MS counts as a failure and is retried', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const { server } = await startService(t, provider.url, { env: { GATE_HANDSHAKE_TIMEOUT_MS: '100' } })
  await waitFor(async () => (await provider.stats()).authorizations >= 2, { what: 'a second authorization' })
  // The second attempt is under way; readiness says so, and why the first one failed.
  const ready = (await server.inject('/health/ready')).json()
  assert.equal(ready.reason, 'gate-pending')
  assert.equal(ready.lastError, 'timeout')
  assert.ok(ready.attempt >= 2)
})

test('under pressure: gated routes and readiness answer 503, liveness and the webhook still work', { timeout: 10_000 }, async (t) => {
  // A 1-byte heap ceiling puts the process under pressure from under-pressure's first sample on.
  const server = await build(t, { env: { PRESSURE_MAX_HEAP_USED_BYTES: '1' } })
  await waitFor(() => server.isUnderPressure(), { what: 'pressure' })
  const ready = await server.inject('/health/ready')
  assert.equal(ready.statusCode, 503)
  assert.equal(ready.json().reason, 'under-pressure')
  assert.equal((await server.inject('/v1/data')).statusCode, 503)
  assert.equal((await server.inject('/health/live')).statusCode, 200)
  // The webhook is reached (and refuses an unsigned call itself), not refused with a 503.
  assert.equal((await server.inject({ method: 'POST', url: '/webhook', payload: {} })).statusCode, 401)
})

test('shutting down: readiness answers 503 shutting-down at once', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  server.readiness.beginShutdown()
  const ready = await server.inject('/health/ready')
  assert.equal(ready.statusCode, 503)
  assert.equal(ready.json().reason, 'shutting-down')
  assert.equal((await server.inject('/health/live')).statusCode, 200)
})

test('before the provider answers, readiness says gate-pending', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  const ready = await server.inject('/health/ready')
  assert.equal(ready.statusCode, 503)
  assert.equal(ready.json().status, 'not-ready')
  assert.equal(ready.json().reason, 'gate-pending')
  assert.equal(ready.headers['retry-after'], '1')
})

test('the closed gate\'s 503 says in a sentence that it waits for the provider, and when to retry', { timeout: 5000 }, async (t) => {
  const server = await build(t)
  const response = await server.inject('/v1/data')
  assert.equal(response.statusCode, 503)
  const body = response.json()
  assert.deepEqual(Object.keys(body), ['error', 'retryInMs', 'message'])
  assert.equal(body.error, true)
  assert.equal(body.message, `waiting for the provider; retry in ${response.headers['retry-after']} s`)
  assert.match(response.headers['content-type'] as string, /^application\/json/)
})

test('under pressure, an open gate\'s 503 says the service is overloaded', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t)
  // The webhook still reaches a service under pressure, so the gate opens all the same.
  const { server } = await startService(t, provider.url, { env: { PRESSURE_MAX_HEAP_USED_BYTES: '1' } })
  await waitForOpen(server)
  await waitFor(() => server.isUnderPressure(), { what: 'pressure' })
  const response = await server.inject('/v1/data')
  assert.equal(response.statusCode, 503)
  assert.deepEqual(response.json(), { error: true, retryInMs: 1000, message: 'the service is overloaded; retry in 1 s' })
})

test('a 503 sent from a handler gets the sentence that fits the moment', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'wrong-key' })
  const { server } = await startService(t, provider.url)
  await waitForOpen(server)
  // The provider rejects the key mid-request: the gate closes and waits for a new handshake.
  const rejected = await server.inject('/v1/data')
  assert.equal(rejected.statusCode, 503)
  assert.equal(rejected.json().message, `waiting for the provider; retry in ${rejected.headers['retry-after']} s`)

  // The same refusal while the service drains before shutting down.
  await waitForOpen(server)
  server.readiness.beginShutdown()
  const draining = await server.inject('/v1/data')
  assert.equal(draining.statusCode, 503)
  assert.equal(draining.json().message, `the service is shutting down; retry in ${draining.headers['retry-after']} s`)
})
