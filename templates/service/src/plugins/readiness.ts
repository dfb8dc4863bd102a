import fp from 'fastify-plugin'
import type { ClosedReason } from '../gate.js'

export type NotReadyReason = ClosedReason | 'under-pressure' | 'shutting-down'

export type Readiness = { ready: true } | { ready: false; reason: NotReadyReason; retryInMs: number }

declare module 'fastify' {
  interface FastifyInstance {
    readiness: {
      check(): Readiness
      /** From now on readiness answers 503 so load balancers stop sending traffic. */
      beginShutdown(): void
    }
  }
}

/** How soon to ask again when the process itself, not the gate, is the reason. */
export const PROCESS_RETRY_MS = 1000

/**
 * Whether this instance should get customer traffic, and if not, why and for how long; and the
 * shutdown that makes it stop getting any.
 */
export default fp(
  async function readiness(fastify) {
    let shuttingDown = false
    fastify.decorate('readiness', {
      check(): Readiness {
        if (shuttingDown) return { ready: false, reason: 'shutting-down', retryInMs: PROCESS_RETRY_MS }
        if (fastify.isUnderPressure()) return { ready: false, reason: 'under-pressure', retryInMs: PROCESS_RETRY_MS }
        if (!fastify.gate.storeAvailable()) return { ready: false, reason: 'store-unavailable', retryInMs: PROCESS_RETRY_MS }
        const gate = fastify.gate.status()
        return gate.open ? { ready: true } : { ready: false, reason: gate.reason, retryInMs: gate.retryInMs }
      },
      beginShutdown() {
        shuttingDown = true
      },
    })
    // A keep-alive socket whose request finishes after close() began would stay open and hold
    // close() up to the keep-alive timeout; closing it with the response also spares the client
    // a reset when it reuses the socket.
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (shuttingDown) reply.header('connection', 'close')
      done(null, payload)
    })
  },
  { name: 'readiness', dependencies: ['setup', 'pressure'] },
)
