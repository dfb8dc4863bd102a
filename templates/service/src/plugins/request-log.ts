import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/** Probes and scrapes arrive every few seconds from machines; at info they would bury people's requests. */
const PROBE_URL = /^\/(?:health\/|metrics(?:$|\?))/

/**
 * Fastify's request logging, one line per request, written when it completes: method, url,
 * status and time (the request id is bound to every line of the request already). Client aborts
 * never complete; `plugins/aborts.ts` logs those.
 */
export class RequestLog extends LogController {
  // Fastify's "incoming request" line doubled every request; the completion line says it all.
  override incomingRequest(): void {}

  // Fastify's "route not found" line repeats what the 404's completion line says.
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else if (PROBE_URL.test(line.url)) reply.log.debug(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
