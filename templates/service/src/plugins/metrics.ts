import fp from 'fastify-plugin'
import { collectDefaultMetrics, Registry } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    /** Each concern registers its own metrics here, beside the code that updates them. */
    metricsRegistry: Registry
  }
}

/** Prometheus text on `GET /metrics`; one registry per app, so several apps can share a process. */
export default fp(
  async function metrics(fastify) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    fastify.decorate('metricsRegistry', registry)

    fastify.get('/metrics', async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)
