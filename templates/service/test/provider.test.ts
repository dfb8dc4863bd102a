import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { request } from 'undici'
import { LogCapture, startProvider, startService, waitFor, waitForOpen } from './helper.js'

async function authorize(providerUrl: string, callbackUrl = 'http://127.0.0.1:9/webhook') {
  const response = await request(`${providerUrl}/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ callbackUrl }),
  })
  return { statusCode: response.statusCode, body: (await response.body.json()) as Record<string, unknown> }
}

test('authorize answers 202 with a requestId and the ETA; a bad callbackUrl is a 400', { timeout: 5000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never', delayMs: 1234, restartDelayMs: 99 })
  const first = await authorize(provider.url)
  assert.equal(first.statusCode, 202)
  assert.equal(typeof first.body.requestId, 'string')
  assert.equal(first.body.etaMs, 1234)
  // Every authorization after the first uses the restart delay.
  assert.equal((await authorize(provider.url)).body.etaMs, 99)
  assert.equal((await authorize(provider.url, 'ftp://nope')).statusCode, 400)
})

test('flaky fails the first authorization of every pair; reject fails them all', { timeout: 5000 }, async (t) => {
  const flaky = await startProvider(t, { mode: 'flaky', delayMs: 60_000 })
  const codes = []
  for (let i = 0; i < 4; i += 1) codes.push((await authorize(flaky.url)).statusCode)
  assert.deepEqual(codes, [500, 202, 500, 202])
  const reject = await startProvider(t, { mode: 'reject' })
  assert.equal((await authorize(reject.url)).statusCode, 500)
})

test('data: 401 without a valid key; a caller hanging up is noticed', { timeout: 5000 }, async (t) => {
  const provider = await startProvider(t)
  const anonymous = await request(`${provider.url}/data`)
  assert.equal(anonymous.statusCode, 401)
  await anonymous.body.dump()
  const forged = await request(`${provider.url}/data`, { headers: { authorization: 'Bearer mk_forged' } })
  assert.equal(forged.statusCode, 401)
  await forged.body.dump()
  assert.deepEqual(await provider.stats(), { authorizations: 0, webhooksDelivered: 0, dataCalls: 2, dataCallsCancelled: 0 })
})

test('bad-signature: the service refuses every delivery and its gate stays closed', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'bad-signature', deliveryAttempts: 3 })
  const logs = new LogCapture()
  const { server } = await startService(t, provider.url, { logs })
  await waitFor(() => logs.events('webhook-refused').length === 3, { what: 'three refused deliveries' })
  assert.equal(server.gate.isOpen, false)
  assert.equal((await provider.stats()).webhooksDelivered, 0)
})

test('callback-now delivers pending webhooks at once', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 60_000 })
  const { server } = await startService(t, provider.url)
  await waitFor(async () => (await provider.stats()).authorizations === 1, { what: 'the authorization' })
  const response = await request(`${provider.url}/__provider/callback-now`, { method: 'POST' })
  assert.deepEqual(await response.body.json(), { delivering: 1 })
  await waitForOpen(server)
  assert.equal((await provider.stats()).webhooksDelivered, 1)
})

test('a refused delivery is retried with backoff under the same message id', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 0, redeliveryBaseMs: 100, deliveryAttempts: 5 })
  const deliveries: Array<{ id: string; at: number }> = []
  const receiver = Fastify()
  receiver.post('/webhook', async (request, reply) => {
    deliveries.push({ id: String(request.headers['webhook-id']), at: Date.now() })
    return reply.code(deliveries.length < 3 ? 503 : 200).send({})
  })
  t.after(() => receiver.close())
  const receiverUrl = await receiver.listen({ port: 0, host: '127.0.0.1' })
  assert.equal((await authorize(provider.url, `${receiverUrl}/webhook`)).statusCode, 202)

  await waitFor(async () => (await provider.stats()).webhooksDelivered === 1, { what: 'the third delivery' })
  assert.equal(deliveries.length, 3)
  assert.equal(new Set(deliveries.map((delivery) => delivery.id)).size, 1)
  const [first, second, third] = deliveries.map((delivery) => delivery.at) as [number, number, number]
  assert.ok(second - first >= 90 && third - second >= 190, `pauses ${second - first} ms then ${third - second} ms`)
})

test('POST /__provider/mode switches the mode live: the next authorization follows it', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { delayMs: 60_000 })
  const switchTo = async (mode: unknown) => {
    const response = await request(`${provider.url}/__provider/mode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode }),
    })
    return { statusCode: response.statusCode, body: (await response.body.json()) as Record<string, unknown> }
  }
  assert.deepEqual(await switchTo('reject'), { statusCode: 200, body: { mode: 'reject', from: 'ok' } })
  assert.equal((await authorize(provider.url)).statusCode, 500)
  assert.deepEqual(await switchTo('ok'), { statusCode: 200, body: { mode: 'ok', from: 'reject' } })
  assert.equal((await authorize(provider.url)).statusCode, 202)
})

test('POST /__provider/mode refuses a mode it does not have, listing them, and keeps its own', { timeout: 10_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'reject' })
  for (const body of [JSON.stringify({ mode: 'sideways' }), JSON.stringify({}), JSON.stringify({ mode: 1 })]) {
    const response = await request(`${provider.url}/__provider/mode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    assert.equal(response.statusCode, 400)
    assert.match(((await response.body.json()) as { error: string }).error, /mode must be one of: ok, reject, never, flaky, bad-signature, wrong-key, slow-data/)
  }
  assert.equal((await authorize(provider.url)).statusCode, 500)
})
