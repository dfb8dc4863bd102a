// The Redis store against a real Redis: 127.0.0.1:6379 (REDIS_URL to change it), and a
// redis-server of the test's own for the outage. Each test has its own key namespace.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { createRedisStore } from '../src/store/redis.js'
import { freePort, LogCapture, signedHeaders, startProvider, startService, waitFor, type RunningProvider } from './helper.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Instance {
  server: FastifyInstance
  url: string
  logs: LogCapture
}

/** Deletes the namespace's keys after the test, so runs never see each other's state. */
function namespaceFor(t: TestContext): string {
  const namespace = `gatekeep-test-${randomUUID()}`
  t.after(async () => {
    const redis = new Redis(REDIS_URL)
    const keys = await redis.keys(`${namespace}:*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return namespace
}

async function startInstance(
  t: TestContext,
  provider: RunningProvider,
  namespace: string,
  env: Record<string, string> = {},
): Promise<Instance> {
  const logs = new LogCapture()
  const { server, url } = await startService(t, provider.url, {
    logs,
    env: { REDIS_URL, GATE_NAMESPACE: namespace, ...env },
    store: (config, log) => createRedisStore({ config, log }),
  })
  return { server, url, logs }
}

async function startInstances(t: TestContext, count: number, provider: RunningProvider, namespace: string, env = {}) {
  return Promise.all(Array.from({ length: count }, () => startInstance(t, provider, namespace, env)))
}

const allOpen = (instances: Instance[]) => instances.every(({ server }) => server.gate.isOpen)

for (const count of [1, 3, 8]) {
  test(`${count} instance(s) sharing Redis: exactly one authorization, every gate open`, { timeout: 20_000 }, async (t) => {
    const provider = await startProvider(t, { delayMs: 200 })
    const instances = await startInstances(t, count, provider, namespaceFor(t))
    await waitFor(() => allOpen(instances), { what: 'every gate to open' })
    await sleep(100)
    const stats = await provider.stats()
    assert.equal(stats.authorizations, 1)
    assert.equal(stats.webhooksDelivered, 1)
    const keys = new Set(instances.map(({ server }) => server.gate.key))
    assert.equal(keys.size, 1, 'one key shared by all')
  })
}

test('the webhook reaching an instance that does not hold the lock opens them all', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const instances = await startInstances(t, 3, provider, namespaceFor(t))
  const holder = await waitFor(() => instances.find(({ logs }) => logs.events('gate-pending').length > 0), { what: 'a handshake' })
  const requestId = holder.logs.events('gate-pending')[0]?.requestId as string
  const other = instances.find((instance) => instance !== holder) as Instance

  const body = JSON.stringify({ requestId, magicKey: 'mk_shared', expiresIn: 60 })
  const response = await other.server.inject({ method: 'POST', url: '/webhook', payload: body, headers: signedHeaders(body) })
  assert.deepEqual(response.json(), { received: true, applied: true })
  await waitFor(() => allOpen(instances), { what: 'every gate to open' })
  assert.ok(instances.every(({ server }) => server.gate.key === 'mk_shared'))
  assert.equal((await provider.stats()).authorizations, 1)
})

test('an instance started later opens from the stored key, without a new authorization', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t)
  const namespace = namespaceFor(t)
  const first = await startInstances(t, 2, provider, namespace)
  await waitFor(() => allOpen(first), { what: 'the first gates' })
  const late = await startInstance(t, provider, namespace)
  await waitFor(() => late.server.gate.isOpen, { what: 'the late gate' })
  assert.equal(late.logs.events('gate-pending').length, 0)
  assert.equal((await provider.stats()).authorizations, 1)
})

test('the lock holder dies mid-handshake: another instance takes over once its claim expires', { timeout: 20_000 }, async (t) => {
  // The first webhook would go to the dead holder; every later one comes quickly.
  const provider = await startProvider(t, { delayMs: 1000, restartDelayMs: 50 })
  const namespace = namespaceFor(t)
  const env = { GATE_HANDSHAKE_TIMEOUT_MS: '500' }
  const instances = await startInstances(t, 3, provider, namespace, env)
  const holder = await waitFor(() => instances.find(({ logs }) => logs.events('gate-pending').length > 0), { what: 'a handshake' })
  // Closed without releasing anything: as far as Redis knows, it simply vanished.
  await holder.server.close()
  const survivors = instances.filter((instance) => instance !== holder)
  await waitFor(() => allOpen(survivors), { timeoutMs: 15_000, what: 'a survivor to complete the handshake' })
  assert.equal((await provider.stats()).authorizations, 2)
})

test('one refresh before expiry, for every instance', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { ttlS: 2, restartDelayMs: 50 })
  const instances = await startInstances(t, 3, provider, namespaceFor(t))
  await waitFor(() => allOpen(instances), { what: 'every gate to open' })
  await waitFor(() => instances.every(({ logs }) => logs.events('key-refreshed').length === 1), {
    what: 'every instance to get the refreshed key',
  })
  assert.equal((await provider.stats()).authorizations, 2)
  assert.ok(instances.every(({ logs }) => logs.events('gate-closed').length === 0), 'no gate closed')
  assert.equal(new Set(instances.map(({ server }) => server.gate.key)).size, 1)
})


test('malformed messages on the credential channel are logged once each and ignored: nobody crashes, the gate stays closed', { timeout: 20_000 }, async (t) => {
  const uncaught: unknown[] = []
  const onUncaught = (error: unknown) => uncaught.push(error)
  process.on('uncaughtException', onUncaught)
  t.after(() => process.off('uncaughtException', onUncaught))
  const provider = await startProvider(t, { mode: 'never' })
  const namespace = namespaceFor(t)
  const instance = await startInstance(t, provider, namespace)
  await waitFor(() => instance.logs.events('gate-pending').length > 0, { what: 'a handshake' })
  const publisher = new Redis(REDIS_URL)
  t.after(() => publisher.quit())

  const secretKey = `mk_${randomUUID()}`
  const valid = { key: secretKey, expiresAt: null, requestId: 'req_1' }
  const malformed = [
    'not json',
    'null',
    '{}',
    '[]',
    `"${secretKey}"`,
    JSON.stringify({ ...valid, key: '' }),
    JSON.stringify({ ...valid, key: 42 }),
    JSON.stringify({ ...valid, key: 'k'.repeat(5000) }),
    JSON.stringify({ ...valid, requestId: '' }),
    JSON.stringify({ key: secretKey, expiresAt: null }),
    JSON.stringify({ ...valid, expiresAt: 'soon' }),
    JSON.stringify({ ...valid, expiresAt: 1e300 }),
  ]
  // Each one twice in a row: the second is the same bad value and is not logged again.
  for (const message of malformed) {
    assert.equal(await publisher.publish(`${namespace}:gate:credential`, message), 1)
    await publisher.publish(`${namespace}:gate:credential`, message)
  }
  await waitFor(() => instance.logs.events('store-malformed').length === malformed.length, { what: 'a warning per malformed message' })
  // Messages arrive in order: once this last one is seen, every duplicate before it was too.
  await publisher.publish(`${namespace}:gate:credential`, 'still not json')
  await waitFor(() => instance.logs.events('store-malformed').length === malformed.length + 1, { what: 'the last warning' })

  assert.deepEqual(uncaught, [])
  assert.equal(instance.server.gate.isOpen, false)
  assert.equal((await instance.server.inject('/health/live')).statusCode, 200)
  assert.equal((await readiness(instance)).reason, 'gate-pending')
  const warnings = instance.logs.events('store-malformed')
  assert.ok(warnings.every((entry) => entry.level === 40 && entry.source === 'channel'))
  assert.ok(instance.logs.lines.every((line) => !line.includes(secretKey)), 'the key is never logged')
})

for (const { what, stored } of [
  { what: 'not JSON', stored: 'not json' },
  { what: 'an empty key', stored: JSON.stringify({ key: '', expiresAt: null, requestId: 'req_1' }) },
]) {
  test(`a stored credential with ${what} is logged once and ignored: the instance runs its own handshake`, { timeout: 20_000 }, async (t) => {
    const provider = await startProvider(t)
    const namespace = namespaceFor(t)
    const redis = new Redis(REDIS_URL)
    t.after(() => redis.quit())
    await redis.set(`${namespace}:gate:credential`, stored)

    const instance = await startInstance(t, provider, namespace)
    await waitFor(() => instance.server.gate.isOpen, { what: 'the gate to open' })
    assert.ok(instance.server.gate.key, 'opened with the key of its own handshake')
    assert.equal((await provider.stats()).authorizations, 1)
    // Read at start and again once the handshake is claimed: warned about once.
    assert.deepEqual(
      instance.logs.events('store-malformed').map((entry) => entry.source),
      ['credential'],
    )
  })
}

test('a malformed stored handshake is logged once and ignored: its webhooks are acknowledged, not applied', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const namespace = namespaceFor(t)
  const instance = await startInstance(t, provider, namespace)
  await waitFor(() => instance.logs.events('gate-pending').length > 0, { what: 'a handshake' })
  const requestId = instance.logs.events('gate-pending')[0]?.requestId as string
  const redis = new Redis(REDIS_URL)
  t.after(() => redis.quit())

  const send = async () => {
    const body = JSON.stringify({ requestId, magicKey: 'mk_tampered', expiresIn: 60 })
    const response = await instance.server.inject({ method: 'POST', url: '/webhook', payload: body, headers: signedHeaders(body) })
    return { statusCode: response.statusCode, body: response.json() }
  }
  const acknowledged = { statusCode: 200, body: { received: true, applied: false } }
  for (const stored of ['not json', JSON.stringify({ requestId, etaAt: 'soon' })]) {
    await redis.set(`${namespace}:gate:handshake`, stored, 'PX', 60_000)
    assert.deepEqual(await send(), acknowledged)
    assert.deepEqual(await send(), acknowledged)
  }
  assert.equal(instance.server.gate.isOpen, false)
  assert.deepEqual(
    instance.logs.events('store-malformed').map((entry) => entry.source),
    ['handshake', 'handshake'],
  )
})

test('four concurrent webhooks for one handshake, two to each of two instances: exactly one is applied', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { mode: 'never' })
  const instances = await startInstances(t, 2, provider, namespaceFor(t))
  const holder = await waitFor(() => instances.find(({ logs }) => logs.events('gate-pending').length > 0), { what: 'a handshake' })
  const requestId = holder.logs.events('gate-pending')[0]?.requestId as string

  const answers = await Promise.all(
    [0, 1, 2, 3].map(async (index) => {
      const magicKey = `mk_race_${index}`
      const body = JSON.stringify({ requestId, magicKey, expiresIn: 60 })
      const { server } = instances[index % 2] as Instance
      const response = await server.inject({ method: 'POST', url: '/webhook', payload: body, headers: signedHeaders(body) })
      assert.equal(response.statusCode, 200)
      return { magicKey, body: response.json() as { received: boolean; applied: boolean } }
    }),
  )
  const applied = answers.filter(({ body }) => body.applied)
  assert.equal(applied.length, 1, 'exactly one applied')
  for (const { body } of answers.filter((answer) => !answer.body.applied)) {
    assert.deepEqual(body, { received: true, applied: false })
  }
  await waitFor(() => allOpen(instances), { what: 'every gate to open' })
  await sleep(100)
  assert.ok(instances.every(({ server }) => server.gate.key === applied[0]?.magicKey), 'every instance keeps the applied key')
})

test('closing an instance does not announce the store unavailable', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t)
  const namespace = namespaceFor(t)
  const instance = await startInstance(t, provider, namespace)
  await waitFor(() => instance.server.gate.isOpen, { what: 'the gate to open' })
  await instance.server.close()

  // The connections' close events follow Redis dropping them.
  const redis = new Redis(REDIS_URL)
  t.after(() => redis.quit())
  await waitFor(async () => !String(await redis.client('LIST')).includes(`name=${namespace}:gate`), { what: 'the connections to close' })
  await sleep(100)
  assert.equal(instance.logs.events('store-unavailable').length, 0)
})

test('expire() on one instance: the key leaves Redis, every gate closes (key-expired), one new handshake opens them all', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t, { restartDelayMs: 300 })
  const namespace = namespaceFor(t)
  const instances = await startInstances(t, 3, provider, namespace)
  await waitFor(() => allOpen(instances), { what: 'every gate to open' })
  const expired = instances[0]?.server.gate.key

  const redis = new Redis(REDIS_URL)
  t.after(() => redis.quit())
  assert.equal(await (instances[1] as Instance).server.gate.expire(), true)
  // The new key is 300 ms away: what Redis holds now is no key at all.
  assert.equal(await redis.get(`${namespace}:gate:credential`), null)
  await waitFor(() => instances.every(({ logs }) => logs.events('gate-closed').some((entry) => entry.reason === 'key-expired')), {
    what: 'every gate to close',
  })
  await waitFor(() => allOpen(instances), { what: 'every gate to reopen' })
  const keys = new Set(instances.map(({ server }) => server.gate.key))
  assert.equal(keys.size, 1, 'one new key shared by all')
  assert.ok(!keys.has(expired ?? null), 'not the expired one')
  assert.equal((await provider.stats()).authorizations, 2)
})

test('a malformed revocation message is logged once and ignored; one for another key changes nothing', { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t)
  const namespace = namespaceFor(t)
  const instance = await startInstance(t, provider, namespace)
  await waitFor(() => instance.server.gate.isOpen, { what: 'the gate to open' })
  const publisher = new Redis(REDIS_URL)
  t.after(() => publisher.quit())

  const channel = `${namespace}:gate:revoked`
  await publisher.publish(channel, 'not json')
  await publisher.publish(channel, 'not json')
  await publisher.publish(channel, JSON.stringify({ key: 'mk_someone_else', expiresAt: null, requestId: 'req_x' }))
  await publisher.publish(channel, JSON.stringify({ key: '' }))
  await waitFor(() => instance.logs.events('store-malformed').length === 2, { what: 'a warning per malformed message' })
  assert.deepEqual(
    instance.logs.events('store-malformed').map((entry) => entry.source),
    ['revocation', 'revocation'],
  )
  assert.equal(instance.server.gate.isOpen, true)
  assert.equal(instance.logs.events('gate-closed').length, 0)
})

/** A redis-server of the test's own, to stop and start at will. */
async function startRedis(t: TestContext, port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  await waitFor(
    async () => {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      probe.on('error', () => undefined)
      const pong = await probe.connect().then(() => probe.ping(), () => null)
      probe.disconnect()
      return pong === 'PONG'
    },
    { what: 'redis-server to answer' },
  )
  return child
}

async function readiness(instance: Instance): Promise<{ statusCode: number; reason?: string; store: string }> {
  const response = await instance.server.inject('/health/ready')
  const { reason, store } = response.json()
  return { statusCode: response.statusCode, reason, store }
}

async function storeUp(instance: Instance): Promise<string | undefined> {
  const metrics = await (await request(`${instance.url}/metrics`)).body.text()
  return /^gatekeep_store_up (\d)$/m.exec(metrics)?.[1]
}

test('Redis down at start, lost mid-run and back: closed gates say store-unavailable, open ones keep serving and stay ready', { timeout: 30_000 }, async (t) => {
  const port = await freePort()
  const provider = await startProvider(t)
  const namespace = `gatekeep-test-${randomUUID()}`
  const instances = await startInstances(t, 2, provider, namespace, { REDIS_URL: `redis://127.0.0.1:${port}` })

  // Down at start, gates closed: the services listen and say why they are not ready.
  for (const instance of instances) {
    assert.deepEqual(await readiness(instance), { statusCode: 503, reason: 'store-unavailable', store: 'down' })
    assert.equal((await instance.server.inject('/health/live')).statusCode, 200)
  }
  await sleep(500)
  assert.equal((await provider.stats()).authorizations, 0, 'no authorization without the lock')

  let redis = await startRedis(t, port)
  await waitFor(() => allOpen(instances), { timeoutMs: 10_000, what: 'the gates to open once Redis is up' })
  for (const instance of instances) {
    assert.deepEqual(await readiness(instance), { statusCode: 200, reason: undefined, store: 'up' })
    assert.equal(await storeUp(instance), '1')
  }

  redis.kill('SIGKILL')
  await once(redis, 'exit')
  await waitFor(async () => (await Promise.all(instances.map(readiness))).every(({ store }) => store === 'down'), {
    what: 'the outage to be noticed',
  })
  await sleep(1500)
  for (const instance of instances) {
    // An open gate still serves, so it stays in rotation: a store blip is no outage.
    assert.deepEqual(await readiness(instance), { statusCode: 200, reason: undefined, store: 'down' })
    assert.equal(await storeUp(instance), '0')
    const data = await request(`${instance.url}/v1/data`)
    assert.equal(data.statusCode, 200)
    await data.body.dump()
    // A few reconnects a second at most, logged once.
    assert.equal(instance.logs.events('store-unavailable').length, 2)
  }
  assert.equal((await provider.stats()).authorizations, 1)

  redis = await startRedis(t, port)
  await waitFor(async () => (await Promise.all(instances.map(readiness))).every(({ store }) => store === 'up'), {
    timeoutMs: 10_000,
    what: 'recovery',
  })
  for (const instance of instances) assert.equal(instance.logs.events('store-available').length, 2)
})

async function statusOf(url: string, init: Parameters<typeof request>[1] = {}): Promise<number> {
  const response = await request(url, init)
  await response.body.dump()
  return response.statusCode
}

/** A webhook signed with another secret than the service's. */
function forgedWebhook(): { method: 'POST'; body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ requestId: 'forged', magicKey: 'attacker-key' })
  const secret = `whsec_${Buffer.from('not the provider, not the provider!').toString('base64')}`
  return { method: 'POST', body, headers: signedHeaders(body, { secret }) }
}

test("rate limits through Redis: two instances share a client's counts, on customer routes and failed webhooks", { timeout: 20_000 }, async (t) => {
  const provider = await startProvider(t)
  const [first, second] = await startInstances(t, 2, provider, namespaceFor(t), { RATE_LIMIT_MAX: '3', RATE_LIMIT_WEBHOOK_FAILURES: '2' })
  assert.ok(first && second)
  await waitFor(() => allOpen([first, second]), { what: 'both gates to open' })

  const customers = []
  for (const instance of [first, first, second, second, first]) customers.push(await statusOf(`${instance.url}/v1/data`))
  assert.deepEqual(customers, [200, 200, 200, 429, 429])

  const webhooks = []
  for (const instance of [first, second, first, second]) webhooks.push(await statusOf(`${instance.url}/webhook`, forgedWebhook()))
  assert.deepEqual(webhooks, [401, 401, 429, 429])
})

test('Redis down: the rate limits let requests through (skipOnError), never a 500, and count again once it is back', { timeout: 30_000 }, async (t) => {
  const port = await freePort()
  let redis = await startRedis(t, port)
  const provider = await startProvider(t)
  const [instance] = await startInstances(t, 1, provider, `gatekeep-test-${randomUUID()}`, {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    RATE_LIMIT_MAX: '2',
    RATE_LIMIT_WEBHOOK_FAILURES: '1',
  })
  assert.ok(instance)
  await waitFor(() => instance.server.gate.isOpen, { what: 'the gate to open' })

  redis.kill('SIGKILL')
  await once(redis, 'exit')
  await waitFor(async () => (await readiness(instance)).store === 'down', { what: 'the outage to be noticed' })
  const customers = []
  const webhooks = []
  for (let i = 0; i < 4; i += 1) {
    customers.push(await statusOf(`${instance.url}/v1/data`))
    webhooks.push(await statusOf(`${instance.url}/webhook`, forgedWebhook()))
  }
  assert.deepEqual(customers, [200, 200, 200, 200])
  assert.deepEqual(webhooks, [401, 401, 401, 401])

  redis = await startRedis(t, port)
  await waitFor(async () => (await readiness(instance)).store === 'up', { timeoutMs: 10_000, what: 'recovery' })
  const afterwards = []
  for (let i = 0; i < 3; i += 1) afterwards.push(await statusOf(`${instance.url}/v1/data`))
  assert.deepEqual(afterwards, [200, 200, 429])
})
