import fp from 'fastify-plugin'
import type { ClosedReason, HandshakeError } from '../events.js'

export type NotReadyReason = ClosedReason | 'under-pressure' | 'shutting-down'

/** Whether the key's store answers; shown, but never on its own a reason to refuse customers. */
export type StoreState = 'up' | 'down'

/** `degraded` while the provider circuit breaker is not closed; shown, never a reason to be unready. */
export type ProviderHealth = 'ok' | 'degraded'

export type Readiness =
  | { ready: true; store: StoreState; provider: ProviderHealth }
  | {
      ready: false
      reason: NotReadyReason
      retryInMs: number
      store: StoreState
      provider: ProviderHealth
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
      // "Can this instance serve customers now?": an open gate can, whatever the store or the
      // provider breaker; failing readiness on a store blip or a provider outage would pull every
      // instance out of rotation at once, and no request would reach a half-open breaker.
      check(): Readiness {
        const store: StoreState = fastify.gate.storeAvailable() ? 'up' : 'down'
        const provider: ProviderHealth = fastify.breaker.state === 'closed' ? 'ok' : 'degraded'
        if (shuttingDown) return { ready: false, reason: 'shutting-down', retryInMs: PROCESS_RETRY_MS, store, provider }
        if (fastify.isUnderPressure()) return { ready: false, reason: 'under-pressure', retryInMs: PROCESS_RETRY_MS, store, provider }
        const gate = fastify.gate.status()
        if (gate.open) return { ready: true, store, provider }
        const { open: _open, ...closed } = gate
        return { ready: false, ...closed, store, provider }
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
  { name: 'readiness', dependencies: ['setup', 'pressure', 'breaker'] },
)
