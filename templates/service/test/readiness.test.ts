// Readiness says what the gate is doing now, and a provider that rejects every key it issues
// is treated as a failing handshake: backed off, counted, given up on.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startProvider, startService, waitFor, waitForOpen } from './helper.js'

test('a provider that rejects every key it issues: backoff, GATE_MAX_ATTEMPTS, readiness gate-failed with lastError key-rejected', { timeout: 15_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'wrong-key', dataLatencyMs: 0 })
  const { server, url } = await startService(t, provider.url, {
    env: { GATE_MAX_ATTEMPTS: '3', GATE_BACKOFF_BASE_MS: '300', GATE_BACKOFF_MAX_MS: '300' },
  })
  let exhausted = false
  void server.gate.exhausted.then(() => {
    exhausted = true
  })
  // A light customer load for as long as the gate keeps trying: each opening meets a 401 at once.
  const readinessSeen: Array<Record<string, unknown>> = []
  const deadline = Date.now() + 10_000
  while (!exhausted && Date.now() < deadline) {
    await request(`${url}/v1/data`).then(({ body }) => body.dump())
    const ready = await server.inject('/health/ready')
    if (ready.json().reason === 'gate-failed') readinessSeen.push(ready.json())
    await sleep(20)
  }
  assert.ok(exhausted, 'the gate gave up')
  assert.equal((await provider.stats()).authorizations, 3, 'one authorization per attempt, never a flood')
  const backingOff = readinessSeen.find((body) => body.lastError === 'key-rejected')
  assert.ok(backingOff, `readiness said gate-failed with lastError key-rejected: ${JSON.stringify(readinessSeen)}`)
  assert.equal(backingOff.status, 'not-ready')
  assert.ok(typeof backingOff.attempt === 'number' && backingOff.attempt >= 1)
  const last = (await server.inject('/health/ready')).json()
  assert.equal(last.reason, 'gate-failed')
  assert.equal(last.lastError, 'key-rejected')
  assert.equal(last.attempt, 3)
})

test('many concurrent 401s for one key start one new handshake, not one each', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'wrong-key', dataLatencyMs: 20, restartDelayMs: 5000 })
  const { server, url } = await startService(t, provider.url, { env: { GATE_BACKOFF_BASE_MS: '50', GATE_BACKOFF_MAX_MS: '50' } })
  await waitForOpen(server)
  const answers = await Promise.all(Array.from({ length: 20 }, () => request(`${url}/v1/data`)))
  for (const answer of answers) {
    assert.equal(answer.statusCode, 503)
    assert.ok(Number(answer.headers['retry-after']) >= 1)
    await answer.body.dump()
  }
  await waitFor(async () => (await provider.stats()).authorizations === 2, { what: 'the new handshake' })
  // The new handshake is pending (its webhook is 5 s away): nothing else starts meanwhile.
  await sleep(300)
  assert.equal((await provider.stats()).authorizations, 2)
})

test('a key the provider accepted, then rejects: key-rejected, and a new handshake at once', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { restartDelayMs: 5000 })
  const { server, url } = await startService(t, provider.url)
  await waitForOpen(server)
  const served = await request(`${url}/v1/data`)
  assert.equal(served.statusCode, 200)
  await served.body.dump()
  // As a 401 to a key that served before would do (the route calls rejectKey on a 401).
  server.gate.rejectKey(server.gate.key as string)
  const rejected = (await server.inject('/health/ready')).json()
  assert.equal(rejected.reason, 'key-rejected')
  const pending = await waitFor(async () => {
    const body = (await server.inject('/health/ready')).json()
    return body.reason === 'gate-pending' ? body : null
  }, { what: 'the new handshake' })
  assert.equal(pending.lastError, undefined, 'a proven key rejected later is no failed handshake')
  assert.equal((await provider.stats()).authorizations, 2)
})

test('after a failure, the next handshake under way reads gate-pending with its attempt and the last error', { timeout: 10_000 }, async (t) => {
  // flaky: the first authorization fails, the second is accepted and answered 5 s later.
  const provider = await startProvider(t, { mode: 'flaky', restartDelayMs: 5000 })
  const { server } = await startService(t, provider.url, { env: { GATE_BACKOFF_BASE_MS: '100', GATE_BACKOFF_MAX_MS: '100' } })
  const failed = await waitFor(async () => {
    const body = (await server.inject('/health/ready')).json()
    return body.reason === 'gate-failed' ? body : null
  }, { what: 'gate-failed' })
  assert.equal(failed.attempt, 1)
  assert.equal(failed.lastError, 'provider-error')
  await waitFor(async () => (await provider.stats()).authorizations === 2, { what: 'the second attempt' })
  const pending = await waitFor(async () => {
    const body = (await server.inject('/health/ready')).json()
    return body.reason === 'gate-pending' ? body : null
  }, { what: 'gate-pending' })
  assert.equal(pending.attempt, 2)
  assert.equal(pending.lastError, 'provider-error')
  assert.equal(pending.store, 'up')
})
