import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { PROCESS_RETRY_MS } from './readiness.js'

/** `Retry-After` takes whole seconds; 0 would invite an immediate retry storm, so at least 1. */
export function retryAfterSeconds(retryInMs: number): string {
  return String(Math.max(1, Math.ceil(retryInMs / 1000)))
}

/** The gate's answer: 503 with `Retry-After` and the same wait in ms in the body. */
export function replyUnavailable(reply: FastifyReply, retryInMs: number): FastifyReply {
  return reply.code(503).header('retry-after', retryAfterSeconds(retryInMs)).send({ error: true, retryInMs })
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
      replyUnavailable(reply, this.gate.isOpen ? PROCESS_RETRY_MS : this.gate.retryInMs())
    })
    fastify.addHook('onRequest', fastify.aborts.watch)
    // This scope already carries the prefix; passing it on again would apply it twice.
    await fastify.register(routes, { ...options, prefix: '' })
  }
}
