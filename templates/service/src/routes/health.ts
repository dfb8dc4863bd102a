import type { FastifyInstance } from 'fastify'
import { retryAfterSeconds } from '../plugins/delay.js'

/** Probes and the guide's `/ping`: never gated, never refused under pressure. */
export default async function healthRoutes(fastify: FastifyInstance) {
  fastify.get('/health/live', async () => ({ status: 'ok' }))

  fastify.get('/health/ready', async (_request, reply) => {
    const readiness = fastify.readiness.check()
    if (readiness.ready) return { status: 'ready', store: readiness.store, provider: readiness.provider }
    const { ready: _ready, ...notReady } = readiness
    reply.code(503).header('retry-after', retryAfterSeconds(notReady.retryInMs))
    return { status: 'not-ready', ...notReady }
  })

  fastify.get('/ping', async () => ({ error: false, ready: fastify.readiness.check().ready }))
}
