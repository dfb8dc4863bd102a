import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import { PROCESS_RETRY_MS } from './readiness.js'

/** `Retry-After` takes whole seconds; 0 would invite an immediate retry storm, so at least 1. */
export function retryAfterSeconds(retryInMs: number): string {
  return String(Math.max(1, Math.ceil(retryInMs / 1000)))
}

/** Why a 503 is sent, as the start of its message; the rest of the sentence says when to retry. */
const WHY = {
  gate: 'waiting for the provider',
  pressure: 'the service is overloaded',
  shutdown: 'the service is shutting down',
  breaker: 'the provider is failing',
} as const

export type UnavailableCause = keyof typeof WHY

/** The cause readiness sees right now, for a caller that does not know its own. */
function causeNow(server: FastifyInstance): UnavailableCause {
  const readiness = server.readiness.check()
  if (readiness.ready) return 'gate'
  if (readiness.reason === 'shutting-down') return 'shutdown'
  return readiness.reason === 'under-pressure' ? 'pressure' : 'gate'
}

/**
 * The 503 every refused customer gets: `Retry-After` in whole seconds, the same wait in ms in
 * the body, and a sentence for people reading it. Without a cause it is read from readiness, so
 * that a handler refusing mid-request (a rejected key, a shutdown) still says why.
 */
export function replyUnavailable(reply: FastifyReply, retryInMs: number, cause: UnavailableCause = causeNow(reply.server)): FastifyReply {
  const seconds = retryAfterSeconds(retryInMs)
  return reply
    .code(503)
    .header('retry-after', seconds)
    .send({ error: true, retryInMs, message: `${WHY[cause]}; retry in ${seconds} s` })
}

/**
 * Wraps customer routes: while the gate is closed, or the process under pressure, they answer
 * 503 at once and none of their handlers, hooks or provider calls run. Not wrapped with
 * fastify-plugin on purpose: the hooks must stay inside this scope, away from health and
 * webhook routes.
 */
export function delay<Options extends Record<string, unknown>>(routes: FastifyPluginAsync<Options>): FastifyPluginAsync<Options> {
  return async function gated(fastify, options) {
    fastify.addHook('onRequest', function refuseWhileClosed(request, reply, done) {
      if (this.gate.isOpen && !this.isUnderPressure()) {
        done()
        return
      }
      // Replying without calling done() ends the request here: nothing behind the gate runs.
      // The cause is known here, which spares this hot path a readiness check.
      const cause = this.gate.isOpen ? 'pressure' : 'gate'
      request.refusal = cause
      replyUnavailable(reply, cause === 'pressure' ? PROCESS_RETRY_MS : this.gate.retryInMs(), cause)
    })
    fastify.addHook('onRequest', fastify.aborts.watch)
    // The served requests' outcomes, for whoever watches the totals (gatekeep dev's console).
    // Decided once, here: a hook on every served request costs throughput nobody would see.
    // Subscribe to `gatekeep:requests` before the app is built to get them.
    if (fastify.events.observed('requests')) {
      fastify.addHook('onResponse', function countOutcome(request, reply, done) {
        const { statusCode } = reply
        this.events.countRequest(statusCode, request.refusal ?? (statusCode === 503 ? causeNow(this) : null))
        done()
      })
    }
    // Per client, on each route of this scope: a route's own hooks run after the scope's, so the
    // gate refuses first and a refused request is never counted.
    const { customers } = fastify.limits
    if (customers !== null) await fastify.register(rateLimit, customers)
    // This scope already carries the prefix; passing it on again would apply it twice.
    await fastify.register(routes, { ...options, prefix: '' })
  }
}
