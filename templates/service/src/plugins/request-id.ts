import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

// Long enough for UUIDs and trace ids; narrow enough that an id is always safe to log and echo.
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Fastify's `genReqId`: the client's `x-request-id` when well-formed, else a fresh UUID. */
export function requestIdFrom(request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && CLIENT_ID.test(header) ? header : randomUUID()
}
