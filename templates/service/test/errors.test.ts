import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { build, LogCapture, signedHeaders, startProvider, startService, waitForOpen } from './helper.js'

const INTERNALS = 'ECONNREFUSED 10.1.2.3:5432 at /srv/app/db.js'

/** Routes that fail in each way a route can. */
function failingRoutes(app: FastifyInstance): void {
  app.get('/fail/thrown', async () => {
    throw new Error(INTERNALS)
  })
  app.get('/fail/unavailable', async () => {
    throw Object.assign(new Error(INTERNALS), { statusCode: 503 })
  })
  app.get('/fail/teapot', async () => {
    throw Object.assign(new Error('short and stout'), { statusCode: 418 })
  })
  app.post('/fail/json', async () => ({ parsed: true }))
}

function errorCounts(metrics: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const [, errorClass, value] of metrics.matchAll(/^gatekeep_errors_total\{class="([^"]+)"\} (\d+)$/gm)) {
    counts[errorClass as string] = Number(value)
  }
  return counts
}

test('thrown errors, 404 and a body Fastify refuses answer one shape {error, message, requestId}; a 5xx carries no internals', { timeout: 5000 }, async (t) => {
  const logs = new LogCapture()
  const server = await build(t, { logs, extend: failingRoutes })

  const thrown = await server.inject({ url: '/fail/thrown', headers: { 'x-request-id': 'boom-1' } })
  assert.equal(thrown.statusCode, 500)
  assert.deepEqual(thrown.json(), {
    error: 'Internal Server Error',
    message: 'the service failed to answer; quote the request id to find out why',
    requestId: 'boom-1',
  })
  assert.equal(thrown.headers['x-request-id'], 'boom-1')
  // The cause is in the log, under the request id the client was given.
  const logged = logs.lines.map((line) => JSON.parse(line) as { reqId?: string; err?: { message?: string } })
  assert.ok(logged.some((line) => line.reqId === 'boom-1' && line.err?.message === INTERNALS))

  const unavailable = await server.inject('/fail/unavailable')
  assert.equal(unavailable.statusCode, 503)
  assert.equal(unavailable.headers['retry-after'], '1')
  assert.equal(unavailable.json().error, 'Service Unavailable')
  for (const response of [thrown, unavailable]) assert.ok(!response.body.includes('10.1.2.3') && !response.body.includes('/srv/'))

  const teapot = await server.inject('/fail/teapot')
  assert.equal(teapot.statusCode, 418)
  assert.deepEqual(teapot.json(), { error: "I'm a Teapot", message: 'short and stout', requestId: teapot.headers['x-request-id'] })

  const badJson = await server.inject({ method: 'POST', url: '/fail/json', headers: { 'content-type': 'application/json' }, payload: '{"a":' })
  assert.equal(badJson.statusCode, 400)
  assert.deepEqual(Object.keys(badJson.json()).sort(), ['error', 'message', 'requestId'])
  assert.equal(badJson.json().error, 'Bad Request')

  const notFound = await server.inject({ url: '/nope?token=x', headers: { 'x-request-id': 'lost-1' } })
  assert.equal(notFound.statusCode, 404)
  assert.deepEqual(notFound.json(), { error: 'Not Found', message: 'no route for GET /nope', requestId: 'lost-1' })
})

test("the gate's 503 and the routes' own answers keep their shapes", { timeout: 5000 }, async (t) => {
  const server = await build(t)
  const gated = await server.inject('/v1/data')
  assert.equal(gated.statusCode, 503)
  assert.deepEqual(Object.keys(gated.json()).sort(), ['error', 'message', 'retryInMs'])
  assert.equal(gated.json().error, true)

  const body = JSON.stringify({ requestId: 'r', magicKey: 'k' })
  const forged = await server.inject({ method: 'POST', url: '/webhook', payload: body, headers: { ...signedHeaders(body), 'webhook-signature': 'v1,Zm9yZ2Vk' } })
  assert.equal(forged.statusCode, 401)
  assert.deepEqual(forged.json(), { error: 'invalid webhook signature or timestamp' })
})

test('errors are counted by class in /metrics', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 20 })
  const { server, url } = await startService(t, provider.url, { extend: failingRoutes, env: { RATE_LIMIT_MAX: '1' } })
  await waitForOpen(server)
  const before = errorCounts((await request(`${url}/metrics`).then((response) => response.body.text())))
  assert.deepEqual(before, { 'not-found': 0, 'rate-limited': 0, client: 0, server: 0 })

  const statuses = []
  for (const path of ['/fail/thrown', '/fail/unavailable', '/fail/teapot', '/nope', '/nope', '/v1/data', '/v1/data']) {
    const response = await request(`${url}${path}`)
    await response.body.dump()
    statuses.push(response.statusCode)
  }
  assert.deepEqual(statuses, [500, 503, 418, 404, 404, 200, 429])
  const after = errorCounts(await request(`${url}/metrics`).then((response) => response.body.text()))
  assert.deepEqual(after, { 'not-found': 2, 'rate-limited': 1, client: 1, server: 2 })
})
