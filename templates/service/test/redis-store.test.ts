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

async function readiness(instance: Instance): Promise<{ statusCode: number; reason?: string }> {
  const response = await instance.server.inject('/health/ready')
  return { statusCode: response.statusCode, reason: response.json().reason }
}

test('Redis down at start, lost mid-run and back: store-unavailable, no crash, no flood, recovery', { timeout: 30_000 }, async (t) => {
  const port = await freePort()
  const provider = await startProvider(t)
  const namespace = `gatekeep-test-${randomUUID()}`
  const instance = await startInstance(t, provider, namespace, { REDIS_URL: `redis://127.0.0.1:${port}` })

  // Down at start: the service listens and says why it is not ready.
  assert.deepEqual(await readiness(instance), { statusCode: 503, reason: 'store-unavailable' })
  assert.equal((await instance.server.inject('/health/live')).statusCode, 200)
  await sleep(500)
  assert.equal((await provider.stats()).authorizations, 0, 'no authorization without the lock')

  let redis = await startRedis(t, port)
  await waitFor(() => instance.server.gate.isOpen, { timeoutMs: 10_000, what: 'the gate to open once Redis is up' })
  assert.equal((await readiness(instance)).statusCode, 200)

  redis.kill('SIGKILL')
  await once(redis, 'exit')
  await waitFor(async () => (await readiness(instance)).reason === 'store-unavailable', { what: 'store-unavailable' })
  await sleep(1500)
  // A few reconnects a second at most, logged once; the process is still up and serving.
  assert.equal(instance.logs.events('store-unavailable').length, 2)
  assert.equal((await instance.server.inject('/health/live')).statusCode, 200)
  assert.equal((await provider.stats()).authorizations, 1)

  redis = await startRedis(t, port)
  await waitFor(async () => (await readiness(instance)).statusCode === 200, { timeoutMs: 10_000, what: 'recovery' })
  assert.equal(instance.logs.events('store-available').length, 2)
})
