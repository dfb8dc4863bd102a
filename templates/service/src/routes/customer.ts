import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ShutdownCancellation } from '../plugins/aborts.js'
import { replyUnavailable } from '../plugins/delay.js'
import { PROCESS_RETRY_MS } from '../plugins/readiness.js'
import { isBreakerRejection } from '../provider/breaker.js'
import { ProviderError } from '../provider/client.js'

/**
 * Example customer routes; register them through `delay()` so they only run with the gate open.
 * Each calls the provider with the key and the request's abort signal, through the circuit
 * breaker: while it is open they answer 503 at once instead of waiting on a failing provider.
 */
export default async function customerRoutes(fastify: FastifyInstance) {
  fastify.get('/data', serveData)
  // The body is parsed (and so fully read) before the handler runs: a finished POST must not
  // count as an abort.
  fastify.post('/data', serveData)
}

async function serveData(request: FastifyRequest, reply: FastifyReply) {
  const { gate, breaker } = request.server
  const key = gate.key
  if (key === null) {
    // The gate closed after this request passed it (the key expired or was rejected).
    return replyUnavailable(reply, gate.retryInMs())
  }
  try {
    await request.downstream((signal) => breaker.fetchData(key, signal))
    gate.confirmKey(key)
    return { customer: true, error: false }
  } catch (error) {
    if (request.abortSignal.aborted) {
      // The service is shutting down: the client is still there and may retry elsewhere.
      if (request.abortSignal.reason instanceof ShutdownCancellation) return replyUnavailable(reply, PROCESS_RETRY_MS, 'shutdown')
      // The client is gone; 499 ("client closed request") only reaches the logs.
      return reply.code(499).send()
    }
    if (isBreakerRejection(error)) {
      request.refusal = 'breaker'
      return replyUnavailable(reply, breaker.retryInMs(), 'breaker')
    }
    if (!(error instanceof ProviderError)) throw error
    if (error.kind === 'unauthorized') {
      gate.rejectKey(key)
      return replyUnavailable(reply, gate.retryInMs())
    }
    request.log.error({ event: 'provider-failed', kind: error.kind, reason: error.message }, 'provider call failed')
    return reply.code(error.kind === 'timeout' ? 504 : 502).send({ customer: null, error: true })
  }
}
