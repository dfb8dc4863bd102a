import fp from 'fastify-plugin'
import { ServiceEvents } from '../events.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What this app publishes on the `gatekeep:*` channels, and subscriptions to its own events. */
    events: ServiceEvents
  }
}

/** Registered first: every other plugin may publish or subscribe from its own registration on. */
export default fp(
  async function events(fastify) {
    const events = new ServiceEvents()
    fastify.decorate('events', events)
    fastify.addHook('onClose', async () => events.close())
  },
  { name: 'events' },
)
