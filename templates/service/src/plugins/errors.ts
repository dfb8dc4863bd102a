import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { retryAfterSeconds } from './delay.js'
import { PROCESS_RETRY_MS } from './readiness.js'

/**
 * The one shape of an error answer: thrown errors, unknown routes and rate limits alike. The
 * gate's 503 and the routes' own answers (the webhook's 401, a provider's 502) keep theirs.
 */
export interface ErrorBody {
  /** The status's name, e.g. "Not Found". */
  error: string
  /** A sentence for people; never a 5xx's internals. */
  message: string
  /** The request's id: its log lines carry it, a 5xx's cause included. */
  requestId: string
}

/** Few on purpose: a label value per error message or route would grow without bound. */
export const ERROR_CLASSES = ['not-found', 'rate-limited', 'client', 'server'] as const
export type ErrorClass = (typeof ERROR_CLASSES)[number]

function classOf(statusCode: number): ErrorClass {
  if (statusCode === 404) return 'not-found'
  if (statusCode === 429) return 'rate-limited'
  return statusCode < 500 ? 'client' : 'server'
}

/** An error's own 4xx or 5xx status; anything else thrown is a 500. */
function statusOf(error: unknown): number {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600 ? statusCode : 500
}

const SERVER_ERROR_MESSAGE = 'the service failed to answer; quote the request id to find out why'

/**
 * Registered at the root, so every scope answers its errors alike, and counts them by class in
 * `gatekeep_errors_total`.
 */
export default fp(
  async function errors(fastify) {
    const counter = new Counter({
      name: 'gatekeep_errors_total',
      help: 'Error answers, by class: not-found (404), rate-limited (429), client (other 4xx), server (5xx).',
      labelNames: ['class'],
      registers: [fastify.metricsRegistry],
    })
    // Every class from 0, so that a rate over the first error of a class starts from a sample.
    for (const errorClass of ERROR_CLASSES) counter.inc({ class: errorClass }, 0)

    function answer(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
      counter.inc({ class: classOf(statusCode) })
      const body: ErrorBody = { error: STATUS_CODES[statusCode] ?? 'Error', message, requestId: reply.request.id }
      return reply.code(statusCode).send(body)
    }

    fastify.setErrorHandler(function handleError(error, request, reply) {
      const statusCode = statusOf(error)
      // A 4xx's message is meant for the client: Fastify's own (a body too large, bad JSON), a limit's.
      if (statusCode < 500) return answer(reply, statusCode, error instanceof Error ? error.message : (STATUS_CODES[statusCode] ?? 'error'))
      // Its stack and message go to the logs only, with the request id the client gets.
      request.log.error({ err: error }, 'request failed')
      if (statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', retryAfterSeconds(PROCESS_RETRY_MS))
      return answer(reply, statusCode, SERVER_ERROR_MESSAGE)
    })

    fastify.setNotFoundHandler(function notFound(request, reply) {
      const path = request.url.split('?', 1)[0]
      return answer(reply, 404, `no route for ${request.method} ${path}`)
    })
  },
  { name: 'errors', dependencies: ['metrics'] },
)
