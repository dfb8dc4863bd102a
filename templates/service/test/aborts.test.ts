import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import type { Published } from '../src/events.js'
import { LogCapture, startProvider, startService, waitFor, waitForOpen } from './helper.js'

async function abortCount(url: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text()
  const match = /^gatekeep_client_aborts_total (\d+)$/m.exec(text)
  assert.ok(match, 'gatekeep_client_aborts_total is exported')
  return Number(match[1])
}

/** Sends a request and hangs up after `afterMs`, over real loopback HTTP. */
async function hangUp(url: string, afterMs: number, init: { method?: 'GET' | 'POST'; body?: string } = {}): Promise<string> {
  const requestId = `abort-${randomUUID()}`
  const controller = new AbortController()
  const sent = request(url, {
    method: init.method ?? 'GET',
    headers: { 'x-request-id': requestId, 'content-type': 'application/json' },
    body: init.body,
    signal: controller.signal,
  })
  await sleep(afterMs)
  controller.abort()
  await assert.rejects(sent)
  return requestId
}

test('a client hanging up is detected, published, counted, logged once and its provider call cancelled', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { dataLatencyMs: 2000 })
  const logs = new LogCapture()
  const { server, url } = await startService(t, provider.url, { logs })
  const published: Array<Published<'abort'>> = []
  t.after(server.events.subscribe('abort', (event) => published.push(event)))
  await waitForOpen(server)

  const ids = await Promise.all([hangUp(`${url}/v1/data`, 150), hangUp(`${url}/v1/data`, 150, { method: 'POST', body: '{"a":1}' })])
  await waitFor(async () => (await abortCount(url)) === 2, { what: 'two aborts counted' })

  assert.deepEqual(published.map((event) => event.requestId).sort(), [...ids].sort())
  for (const event of published) {
    // Told once the cancelled provider call has settled, so `cancelled` is final.
    assert.equal(event.cancelled, true)
    assert.ok(event.detectedAfterMs > 0, `measured from the request's arrival: ${event.detectedAfterMs}`)
    assert.ok(Math.abs(event.detectedAt - Date.now()) < 60_000)
  }
  const lines = logs.events('client-abort')
  assert.deepEqual(lines.map((line) => line.reqId).sort(), [...ids].sort())
  // The provider saw its caller hang up and stopped.
  await waitFor(async () => (await provider.stats()).dataCallsCancelled === 2, { what: 'the provider to stop' })
})

test('a completed POST whose body was read is not an abort', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { dataLatencyMs: 100 })
  const { server, url } = await startService(t, provider.url)
  await waitForOpen(server)
  for (let i = 0; i < 5; i += 1) {
    const response = await request(`${url}/v1/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order: i, padding: 'x'.repeat(10_000) }),
    })
    assert.equal(response.statusCode, 200)
    await response.body.json()
  }
  await sleep(50)
  assert.equal(await abortCount(url), 0)
})

test('the service itself has no dev route: gatekeep dev attaches its own', { timeout: 5000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const { url } = await startService(t, provider.url, { env: { GATEKEEP_DEV: '1' } })
  assert.equal((await request(`${url}/__gatekeep/aborts?ids=a`)).statusCode, 404)
})
