import fp from 'fastify-plugin'
import type { ClosedReason, HandshakeError } from '../events.js'

export type NotReadyReason = ClosedReason | 'under-pressure' | 'shutting-down'

/** Whether the key's store answers; shown, but never on its own a reason to refuse customers. */
export type StoreState = 'up' | 'down'

export type Readiness =
  | { ready: true; store: StoreState }
  | {
      ready: false
      reason: NotReadyReason
      retryInMs: number
      store: StoreState
      attempt?: number
      lastError?: HandshakeError
    }

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
      // "Can this instance serve customers now?": an open gate can, whatever the store; failing
      // readiness on a store blip would pull every instance out of rotation at once.
      check(): Readiness {
        const store: StoreState = fastify.gate.storeAvailable() ? 'up' : 'down'
        if (shuttingDown) return { ready: false, reason: 'shutting-down', retryInMs: PROCESS_RETRY_MS, store }
        if (fastify.isUnderPressure()) return { ready: false, reason: 'under-pressure', retryInMs: PROCESS_RETRY_MS, store }
        const gate = fastify.gate.status()
        if (gate.open) return { ready: true, store }
        const { open: _open, ...closed } = gate
        return { ready: false, ...closed, store }
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
