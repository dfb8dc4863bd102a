import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { build, LogCapture, SECRET, startProvider, startService, waitForOpen } from './helper.js'

test('x-request-id: a well-formed one is echoed and logged, anything else replaced', { timeout: 5000 }, async (t) => {
  const logs = new LogCapture()
  const server = await build(t, { logs })
  const kept = await server.inject({ url: '/health/live', headers: { 'x-request-id': 'trace-1.a_b:c' } })
  assert.equal(kept.headers['x-request-id'], 'trace-1.a_b:c')
  assert.ok(logs.lines.some((line) => JSON.parse(line).reqId === 'trace-1.a_b:c'))

  for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) {
    const response = await server.inject({ url: '/health/live', headers: { 'x-request-id': bad } })
    const echoed = response.headers['x-request-id'] as string
    assert.notEqual(echoed, bad)
    assert.match(echoed, /^[0-9a-f-]{36}$/)
  }
  // Gated routes echo it too, even when refused.
  const refused = await server.inject({ url: '/v1/data', headers: { 'x-request-id': 'gated-1' } })
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.headers['x-request-id'], 'gated-1')
})

test('the key and the webhook secret never appear in logs or bodies', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { dataLatencyMs: 300, ttlS: 1, restartDelayMs: 50 })
  const logs = new LogCapture()
  const { server, url } = await startService(t, provider.url, { logs, env: { LOG_LEVEL: 'trace' } })
  await waitForOpen(server)
  const key = server.gate.key as string
  const bodies: string[] = []
  bodies.push(await (await request(`${url}/v1/data`)).body.text())
  const controller = new AbortController()
  const aborted = request(`${url}/v1/data`, { signal: controller.signal })
  await sleep(50)
  controller.abort()
  await aborted.catch(() => undefined)
  server.gate.rejectKey(key)
  for (const path of ['/health/ready', '/metrics', '/v1/data', '/ping']) {
    bodies.push(await (await request(`${url}${path}`)).body.text())
  }
  await waitForOpen(server)

  const everything = [...logs.lines, ...bodies].join('\n')
  assert.ok(logs.lines.length > 10, 'the flow was logged')
  assert.ok(!everything.includes(key), 'the key is never logged')
  assert.ok(!everything.includes(server.gate.key as string), 'nor the refreshed one')
  assert.ok(!everything.includes(SECRET.slice('whsec_'.length)), 'the secret is never logged')
})
