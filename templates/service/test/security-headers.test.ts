import assert from 'node:assert/strict'
import { test } from 'node:test'
import fastifyHelmet from '@fastify/helmet'
import Fastify from 'fastify'
import { API_HELMET_OPTIONS, helmetHeaders } from '../src/plugins/headers.js'
import { build, signedHeaders } from './helper.js'

const { 'strict-transport-security': hsts, ...overHttp } = helmetHeaders(API_HELMET_OPTIONS)

test("helmet's headers for an API: no CSP nor the other document-only headers, HSTS among them for https", () => {
  assert.deepEqual(overHttp, {
    'cross-origin-resource-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  })
  assert.equal(hsts, 'max-age=31536000; includeSubDomains')
})

test('the precomputed set is what @fastify/helmet sends with the same options', async (t) => {
  const reference = Fastify({ logger: false })
  t.after(() => reference.close())
  await reference.register(fastifyHelmet, API_HELMET_OPTIONS)
  reference.get('/', async () => ({ ok: true }))
  const { headers } = await reference.inject('/')
  const { 'content-type': _type, 'content-length': _length, date: _date, connection: _connection, ...sent } = headers
  assert.deepEqual(sent, { ...overHttp, 'strict-transport-security': hsts })
})

test("every answer carries helmet's headers, no CSP and, over http, no HSTS: the gate's 503, 404s, errors, probes, metrics, the webhook", { timeout: 5000 }, async (t) => {
  const server = await build(t, {
    extend: (app) =>
      app.get('/boom', async () => {
        throw new Error('boom')
      }),
  })
  const body = JSON.stringify({ requestId: 'not-in-flight', magicKey: 'k' })
  const answers = {
    'closed gate': await server.inject('/v1/data'),
    'unknown route': await server.inject('/nope'),
    'thrown error': await server.inject('/boom'),
    live: await server.inject('/health/live'),
    ready: await server.inject('/health/ready'),
    ping: await server.inject('/ping'),
    metrics: await server.inject('/metrics'),
    'forged webhook': await server.inject({ method: 'POST', url: '/webhook', payload: body, headers: { ...signedHeaders(body), 'webhook-signature': 'v1,Zm9yZ2Vk' } }),
    'signed webhook': await server.inject({ method: 'POST', url: '/webhook', payload: body, headers: signedHeaders(body) }),
  }
  // The routes answer as they did before the headers.
  const statuses = Object.fromEntries(Object.entries(answers).map(([what, response]) => [what, response.statusCode]))
  assert.deepEqual(statuses, {
    'closed gate': 503,
    'unknown route': 404,
    'thrown error': 500,
    live: 200,
    ready: 503,
    ping: 200,
    metrics: 200,
    'forged webhook': 401,
    'signed webhook': 200,
  })
  for (const [what, response] of Object.entries(answers)) {
    for (const [name, value] of Object.entries(overHttp)) assert.equal(response.headers[name], value, `${what}: ${name}`)
    assert.equal(response.headers['content-security-policy'], undefined, `${what}: no CSP`)
    assert.equal(response.headers['strict-transport-security'], undefined, `${what}: no HSTS over http`)
    assert.ok(response.headers['x-request-id'], `${what}: x-request-id`)
  }
  assert.match(answers.metrics.headers['content-type'] as string, /^text\/plain/)
})

test('HSTS only for requests that came over https through a proxy named in TRUST_PROXY', { timeout: 5000 }, async (t) => {
  // inject's requests come from 127.0.0.1.
  const behindProxy = await build(t, { env: { TRUST_PROXY: '127.0.0.1' } })
  const overHttps = await behindProxy.inject({ url: '/health/live', headers: { 'x-forwarded-proto': 'https' } })
  assert.equal(overHttps.headers['strict-transport-security'], hsts)
  const gated = await behindProxy.inject({ url: '/v1/data', headers: { 'x-forwarded-proto': 'https' } })
  assert.equal(gated.statusCode, 503)
  assert.equal(gated.headers['strict-transport-security'], hsts)
  const plain = await behindProxy.inject({ url: '/health/live', headers: { 'x-forwarded-proto': 'http' } })
  assert.equal(plain.headers['strict-transport-security'], undefined)

  // A client claiming https, with no proxy trusted (or through one not named), is not believed.
  const direct = await build(t)
  const claimed = await direct.inject({ url: '/health/live', headers: { 'x-forwarded-proto': 'https' } })
  assert.equal(claimed.headers['strict-transport-security'], undefined)
  const otherProxy = await build(t, { env: { TRUST_PROXY: '10.0.0.0/8' } })
  const untrusted = await otherProxy.inject({ url: '/health/live', headers: { 'x-forwarded-proto': 'https' } })
  assert.equal(untrusted.headers['strict-transport-security'], undefined)
})
