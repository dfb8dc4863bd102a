import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Registry } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    /** Each concern registers its own metrics here, beside the code that updates them. */
    metricsRegistry: Registry
  }
}

/**
 * Prometheus text on `GET /metrics`; one registry per app, so several apps can share a process.
 * Counters of what happens are fed by the app's events; gauges of what is read the state when
 * scraped, beside it.
 */
export default fp(
  async function metrics(fastify) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    fastify.decorate('metricsRegistry', registry)

    const handshakes = new Counter({
      name: 'gatekeep_handshakes_total',
      help: 'Handshakes with the provider, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    })
    const clientAborts = new Counter({
      name: 'gatekeep_client_aborts_total',
      help: 'Customer requests whose client hung up before the response finished.',
      registers: [registry],
    })
    const unsubscribes = [
      fastify.events.subscribe('handshake', ({ outcome }) => {
        // Giving up is the last failure.
        handshakes.inc({ outcome: outcome === 'exhausted' ? 'failed' : outcome })
      }),
      fastify.events.subscribe('abort', () => clientAborts.inc()),
    ]
    fastify.addHook('onClose', async () => {
      for (const unsubscribe of unsubscribes) unsubscribe()
    })

    fastify.get('/metrics', async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics', dependencies: ['events'] },
)
