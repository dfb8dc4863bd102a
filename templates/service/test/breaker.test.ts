// The circuit breaker around provider data calls: it opens on provider failures only, answers
// customers 503 at once while open, keeps readiness 200, and recovers by itself.
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { loadConfig } from '../src/config.js'
import type { BreakerState, Published } from '../src/events.js'
import { DataBreaker, isBreakerRejection } from '../src/provider/breaker.js'
import { ProviderClient, ProviderError } from '../src/provider/client.js'
import { buildMockProvider, MOCK_PROVIDER_DEFAULTS, type MockProviderOptions } from '../src/provider/mock.js'
import { LogCapture, SECRET, startProvider, startService, waitFor, waitForOpen } from './helper.js'

/** Every state the app's breaker announces on its channel, in order. */
function breakerStates(server: FastifyInstance): BreakerState[] {
  const states: BreakerState[] = []
  server.events.subscribe('breaker', ({ state }) => states.push(state))
  return states
}

async function providerHealth(url: string): Promise<unknown> {
  return ((await (await request(`${url}/health/ready`)).body.json()) as { provider?: unknown }).provider
}

async function breakerGauge(url: string): Promise<string | undefined> {
  const metrics = await (await request(`${url}/metrics`)).body.text()
  return /^gatekeep_provider_breaker_state (\d)$/m.exec(metrics)?.[1]
}

async function get(url: string): Promise<{ statusCode: number; retryAfter: string | undefined; body: Record<string, unknown> }> {
  const response = await request(`${url}/v1/data`)
  return {
    statusCode: response.statusCode,
    retryAfter: response.headers['retry-after'] as string | undefined,
    body: (await response.body.json()) as Record<string, unknown>,
  }
}

test('slow-data: past the threshold the breaker opens; customers get 503 + Retry-After at once, the provider no calls, readiness stays 200', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'slow-data', slowDataMs: 10_000 })
  // Customer outcomes are counted only when someone listens as the app is built.
  const refusals: Array<Published<'requests'>> = []
  const onRequests = (message: unknown) => refusals.push(message as Published<'requests'>)
  subscribe('gatekeep:requests', onRequests)
  t.after(() => unsubscribe('gatekeep:requests', onRequests))
  const logs = new LogCapture()
  const { server, url } = await startService(t, provider.url, {
    logs,
    env: { PROVIDER_TIMEOUT_MS: '100', BREAKER_VOLUME_THRESHOLD: '3', BREAKER_RESET_MS: '60000' },
  })
  const states = breakerStates(server)
  const refusedByBreaker = () =>
    refusals.filter(({ app }) => app === server.events.app).reduce((sum, { byCause }) => sum + (byCause.breaker ?? 0), 0)
  await waitForOpen(server)

  // Below the volume threshold the breaker stays closed, whatever the failures.
  for (let call = 1; call <= 3; call += 1) {
    const timedOut = await get(url)
    assert.equal(timedOut.statusCode, 504, `call ${call} waits out PROVIDER_TIMEOUT_MS`)
    assert.deepEqual(states, call < 3 ? [] : ['open'])
  }
  const callsWhenOpened = (await provider.stats()).dataCalls
  assert.equal(callsWhenOpened, 3)

  const refused = await Promise.all(Array.from({ length: 5 }, () => get(url)))
  for (const { statusCode, retryAfter, body } of refused) {
    assert.equal(statusCode, 503)
    assert.equal(body.error, true)
    assert.match(String(body.message), /^the provider is failing; retry in \d+ s$/)
    // The breaker's reset time, in whole seconds.
    assert.ok(Number(body.retryInMs) > 50_000 && Number(body.retryInMs) <= 60_000, `retryInMs ${body.retryInMs}`)
    assert.equal(retryAfter, String(Math.ceil(Number(body.retryInMs) / 1000)))
  }
  assert.equal((await provider.stats()).dataCalls, callsWhenOpened, 'no call reached the provider while open')
  await waitFor(() => refusedByBreaker() === 5, { what: 'the refusals counted with their cause' })

  const ready = await request(`${url}/health/ready`)
  assert.equal(ready.statusCode, 200, 'one provider outage must not pull every instance out of rotation')
  assert.deepEqual(await ready.body.json(), { status: 'ready', store: 'up', provider: 'degraded' })
  assert.equal(await breakerGauge(url), '2')
  assert.equal(logs.events('breaker-open').length, 1)
  assert.deepEqual(states, ['open'])
})

test('the breaker half-opens after BREAKER_RESET_MS: a failed trial opens it again, a served one closes it', { timeout: 15_000 }, async (t) => {
  const options: MockProviderOptions = {
    ...MOCK_PROVIDER_DEFAULTS,
    secret: SECRET,
    delayMs: 50,
    dataLatencyMs: 0,
    mode: 'slow-data',
    slowDataMs: 10_000,
  }
  const provider = buildMockProvider(options, { logger: false })
  t.after(() => provider.close())
  const providerUrl = await provider.listen({ port: 0, host: '127.0.0.1' })
  const logs = new LogCapture()
  const { server, url } = await startService(t, providerUrl, {
    logs,
    env: { PROVIDER_TIMEOUT_MS: '100', BREAKER_VOLUME_THRESHOLD: '2', BREAKER_RESET_MS: '300' },
  })
  const states = breakerStates(server)
  await waitForOpen(server)

  for (let call = 0; call < 2; call += 1) assert.equal((await get(url)).statusCode, 504)
  assert.deepEqual(states, ['open'])
  await waitFor(() => states.length === 2, { what: 'the breaker to half-open' })
  assert.deepEqual(states, ['open', 'half-open'])
  assert.equal(await providerHealth(url), 'degraded')
  assert.equal(await breakerGauge(url), '1')
  // The provider still fails: the trial call waits out the timeout and the breaker opens again.
  assert.equal((await get(url)).statusCode, 504)
  assert.deepEqual(states, ['open', 'half-open', 'open'])

  // As the dev console's "Provider mode" does: switched live, the provider keeps running.
  const switched = await request(`${providerUrl}/__provider/mode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'ok' }),
  })
  assert.equal(switched.statusCode, 200)
  await switched.body.dump()
  await waitFor(() => states.length === 4, { what: 'the breaker to half-open again' })
  const served = await get(url)
  assert.equal(served.statusCode, 200)
  assert.deepEqual(served.body, { customer: true, error: false })
  assert.deepEqual(states, ['open', 'half-open', 'open', 'half-open', 'closed'])
  assert.equal((await get(url)).statusCode, 200)
  assert.equal(await providerHealth(url), 'ok')
  assert.equal(await breakerGauge(url), '0')
  assert.equal(logs.events('breaker-half-open').length, 2)
  assert.equal(logs.events('breaker-closed').length, 1)
})

/** A provider answering `/data` with `status()`; null: never answers. Counts the calls it got. */
async function scriptedProvider(t: TestContext, status: () => number | null): Promise<{ url: string; calls: () => number }> {
  const hanging = new Set<ServerResponse>()
  let calls = 0
  const server = createServer((_request, response) => {
    calls += 1
    const code = status()
    if (code === null) hanging.add(response)
    else response.writeHead(code, { 'content-type': 'application/json' }).end('{}')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls: () => calls }
}

/** A breaker over a real client, as the app builds it, with a threshold of 2 calls. */
function breakerFor(t: TestContext, providerUrl: string): { breaker: DataBreaker; states: BreakerState[] } {
  const client = new ProviderClient(providerUrl, 5000)
  const states: BreakerState[] = []
  const config = loadConfig({ WEBHOOK_SECRET: SECRET, BREAKER_VOLUME_THRESHOLD: '2', BREAKER_RESET_MS: '60000' }).breaker
  const breaker = new DataBreaker((key, signal) => client.fetchData(key, signal), config, (state) => states.push(state))
  t.after(async () => {
    breaker.shutdown()
    await client.close()
  })
  return { breaker, states }
}

test('4xx answers do not count: a provider rejecting every call with 400, 401, 403 or 404 never opens the breaker', { timeout: 10_000 }, async (t) => {
  const answers = [400, 401, 403, 404]
  let next = 0
  const provider = await scriptedProvider(t, () => answers[next++ % answers.length] ?? 400)
  const { breaker, states } = breakerFor(t, provider.url)
  for (let call = 0; call < 12; call += 1) {
    await assert.rejects(breaker.fetchData('mk_key', new AbortController().signal), (error) => error instanceof ProviderError)
  }
  assert.equal(provider.calls(), 12)
  assert.equal(breaker.state, 'closed')
  assert.deepEqual(states, [])
})

test('cancelled calls do not count: callers hanging up on a silent provider never open the breaker', { timeout: 10_000 }, async (t) => {
  const provider = await scriptedProvider(t, () => null)
  const { breaker, states } = breakerFor(t, provider.url)
  for (let call = 1; call <= 6; call += 1) {
    const caller = new AbortController()
    const pending = breaker.fetchData('mk_key', caller.signal)
    await waitFor(() => provider.calls() === call, { what: `call ${call} to reach the provider` })
    caller.abort()
    await assert.rejects(pending, (error) => !(error instanceof ProviderError))
  }
  assert.equal(breaker.state, 'closed')
  assert.deepEqual(states, [])
})

for (const status of [500, 503, 429]) {
  test(`${status} answers count: the breaker opens and refuses further calls without making them`, { timeout: 10_000 }, async (t) => {
    const provider = await scriptedProvider(t, () => status)
    const { breaker, states } = breakerFor(t, provider.url)
    for (let call = 0; call < 2; call += 1) {
      await assert.rejects(breaker.fetchData('mk_key', new AbortController().signal), (error) => error instanceof ProviderError && error.statusCode === status)
    }
    assert.deepEqual(states, ['open'])
    await assert.rejects(breaker.fetchData('mk_key', new AbortController().signal), (error) => isBreakerRejection(error))
    assert.equal(provider.calls(), 2)
    assert.ok(breaker.retryInMs() > 50_000 && breaker.retryInMs() <= 60_000)
  })
}

test('BREAKER_* are validated at start', () => {
  const base = { WEBHOOK_SECRET: SECRET }
  assert.deepEqual(loadConfig(base).breaker, { errorThresholdPercent: 50, volumeThreshold: 10, resetMs: 10_000 })
  for (const [name, value] of [
    ['BREAKER_ERROR_THRESHOLD_PERCENT', '0'],
    ['BREAKER_ERROR_THRESHOLD_PERCENT', '101'],
    ['BREAKER_VOLUME_THRESHOLD', '-1'],
    ['BREAKER_RESET_MS', '0'],
    ['BREAKER_RESET_MS', 'soon'],
  ] as const) {
    assert.throws(() => loadConfig({ ...base, [name]: value }), new RegExp(`^Error: ${name} must be`), `${name}=${value}`)
  }
})
