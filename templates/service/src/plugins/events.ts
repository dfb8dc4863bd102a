import fp from 'fastify-plugin'
import { ServiceEvents, type RefusalCause } from '../events.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What this app publishes on the `gatekeep:*` channels, and subscriptions to its own events. */
    events: ServiceEvents
  }
  interface FastifyRequest {
    /** Why a gated route refused this request without serving it; null when it was let through. */
    refusal: RefusalCause | null
  }
}

/** Registered first: every other plugin may publish or subscribe from its own registration on. */
export default fp(
  async function events(fastify) {
    const events = new ServiceEvents()
    fastify.decorate('events', events)
    fastify.decorateRequest('refusal', null)
    fastify.addHook('onClose', async () => events.close())
  },
  { name: 'events' },
)
