import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import type { BreakerConfig } from '../config.js'
import type { BreakerState } from '../events.js'
import { DataBreaker } from '../provider/breaker.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Provider data calls go through it (`breaker.fetchData(key, signal)`), not to the provider directly. */
    breaker: DataBreaker
  }
}

/** `gatekeep_provider_breaker_state`'s values. */
const STATE_VALUES: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 }

/**
 * The circuit breaker around provider data calls: each change of its state is published
 * (`breaker`, logged by the event log) and its state is a gauge.
 */
export default fp(
  async function breaker(fastify, config: BreakerConfig) {
    const { events, provider } = fastify
    const dataBreaker = new DataBreaker((key, signal) => provider.fetchData(key, signal), config, (state) => events.publish('breaker', { state }))
    new Gauge({
      name: 'gatekeep_provider_breaker_state',
      help: 'The circuit breaker around provider data calls: 0 closed, 1 half-open (one trial call), 2 open (customer data calls answer 503 at once).',
      registers: [fastify.metricsRegistry],
      collect() {
        this.set(STATE_VALUES[dataBreaker.state])
      },
    })
    fastify.decorate('breaker', dataBreaker)
    fastify.addHook('onClose', async () => dataBreaker.shutdown())
  },
  { name: 'breaker', dependencies: ['events', 'metrics', 'setup'] },
)
