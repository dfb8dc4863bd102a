// Several instances sharing the Redis store: one authorization, and how long from the webhook
// reaching one instance until the last gate opens.
import { randomBytes, randomUUID } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'
import app, { serverOptions } from '../templates/service/src/app.js'
import { loadConfig } from '../templates/service/src/config.js'
import { buildMockProvider, MOCK_PROVIDER_DEFAULTS } from '../templates/service/src/provider/mock.js'
import { createRedisStore } from '../templates/service/src/store/redis.js'
import { median } from './http.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface FanOut {
  instances: number
  authorizations: number
  /** Per round: the signed webhook sent to one instance until every gate is open. */
  webhookToLastOpenMs: number[]
}

/** One round: N fresh instances, a provider that never calls back, our own webhook to instance 0. */
async function round(instances: number, secret: string): Promise<{ ms: number; authorizations: number }> {
  const namespace = `gatekeep-bench-${randomUUID()}`
  const provider = buildMockProvider({ ...MOCK_PROVIDER_DEFAULTS, secret, mode: 'never' }, { logger: false })
  const providerUrl = await provider.listen({ port: 0, host: '127.0.0.1' })
  const servers: FastifyInstance[] = []
  let handshakeId: string | undefined
  try {
    for (let i = 0; i < instances; i += 1) {
      const config = loadConfig({ WEBHOOK_SECRET: secret, PROVIDER_URL: providerUrl, REDIS_URL, GATE_NAMESPACE: namespace, LOG_LEVEL: 'silent' })
      const server = Fastify({ ...serverOptions(config), logger: false })
      await server.register(app, { config, store: createRedisStore({ config, log: server.log }) })
      await server.listen({ port: 0, host: '127.0.0.1' })
      servers.push(server)
    }
    // The handshake in flight, as the store holds it for whichever instance won the lock.
    const redis = new Redis(REDIS_URL)
    for (;;) {
      const stored = await redis.get(`${namespace}:gate:handshake`)
      if (stored) {
        handshakeId = (JSON.parse(stored) as { requestId: string }).requestId
        break
      }
      await nextTurn()
    }
    const body = JSON.stringify({ requestId: handshakeId, magicKey: `mk_${randomUUID()}` })
    const id = `msg_${randomUUID()}`
    const now = new Date()
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, now, body),
    }
    const target = servers[servers.length - 1] as FastifyInstance
    const started = performance.now()
    const delivered = request(`http://127.0.0.1:${(target.server.address() as { port: number }).port}/webhook`, { method: 'POST', headers, body })
    while (!servers.every((server) => server.gate.isOpen)) await nextTurn()
    const ms = performance.now() - started
    await (await delivered).body.dump()
    const stats = (await (await request(`${providerUrl}/__provider/stats`)).body.json()) as { authorizations: number }
    const keys = await redis.keys(`${namespace}:*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
    return { ms, authorizations: stats.authorizations }
  } finally {
    await Promise.all(servers.map((server) => server.close()))
    await provider.close()
  }
}

export async function benchInstances(counts = [1, 3, 8], rounds = 5): Promise<FanOut[]> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const results: FanOut[] = []
  for (const instances of counts) {
    const webhookToLastOpenMs: number[] = []
    const authorizations = new Set<number>()
    for (let i = 0; i < rounds; i += 1) {
      const { ms, authorizations: count } = await round(instances, secret)
      webhookToLastOpenMs.push(ms)
      authorizations.add(count)
    }
    results.push({ instances, authorizations: Math.max(...authorizations), webhookToLastOpenMs })
  }
  return results
}

export function describeFanOut({ instances, webhookToLastOpenMs }: FanOut): string {
  return `median ${median(webhookToLastOpenMs).toFixed(1)} ms from the webhook to the last of ${instances} gates open`
}
