import { Client, errors } from 'undici'

/** What a keep-alive load saw, request by request, while the service shut down under it. */
export interface LoadOutcome {
  /** Requests written, answered or not. */
  sent: number
  statuses: Record<number, number>
  /** 503s lacking `Retry-After`, and any answer lacking `x-request-id`. */
  unavailableWithoutRetryAfter: number
  withoutRequestId: number
  /** Answers to requests sent once shutdown had begun that still offered to keep the socket. */
  keptAliveAfterShutdown: number
  /** Request ids whose connection was reset or closed before an answer. */
  resets: string[]
  /** Connections refused: the listener had closed; not a reset, nothing was sent. */
  refused: number
  /** Anything else that went wrong, by message. */
  errors: string[]
}

export interface LoadOptions {
  connections: number
  path: string
  /** Whether shutdown has begun: requests sent from then on must be answered `Connection: close`. */
  shutdownBegun: () => boolean
  /** Each connection stops when refused, or at this bound whatever happens. */
  maxMs: number
  /** Prefix of every `x-request-id`, so that ids can be found in the service's log. */
  idPrefix: string
}

/** A reset or a close before the answer, as undici reports either. */
function isReset(error: unknown): boolean {
  const code = (error as { code?: string }).code
  return error instanceof errors.SocketError || code === 'ECONNRESET' || code === 'EPIPE'
}

/**
 * `connections` clients, one socket each, looping on `path` until the service stops accepting;
 * a client reconnects (as a load balancer's would) when the service closes its socket.
 */
export async function keepAliveLoad(origin: string, options: LoadOptions): Promise<LoadOutcome> {
  const outcome: LoadOutcome = {
    sent: 0,
    statuses: {},
    unavailableWithoutRetryAfter: 0,
    withoutRequestId: 0,
    keptAliveAfterShutdown: 0,
    resets: [],
    refused: 0,
    errors: [],
  }
  const deadline = Date.now() + options.maxMs

  async function loop(index: number): Promise<void> {
    // One connection at a time per client, reopened when the service closes it.
    const client = new Client(origin, { pipelining: 1 })
    try {
      for (let sequence = 0; Date.now() < deadline; sequence += 1) {
        const requestId = `${options.idPrefix}-${index}-${sequence}`
        const afterShutdown = options.shutdownBegun()
        outcome.sent += 1
        try {
          const response = await client.request({ path: options.path, method: 'GET', headers: { 'x-request-id': requestId } })
          await response.body.dump()
          const { statusCode, headers } = response
          outcome.statuses[statusCode] = (outcome.statuses[statusCode] ?? 0) + 1
          if (statusCode === 503 && headers['retry-after'] === undefined) outcome.unavailableWithoutRetryAfter += 1
          if (headers['x-request-id'] !== requestId) outcome.withoutRequestId += 1
          if (afterShutdown && headers.connection !== 'close') outcome.keptAliveAfterShutdown += 1
        } catch (error) {
          const { code, syscall } = error as NodeJS.ErrnoException
          if (code === 'ECONNREFUSED' || syscall === 'connect') {
            // Nothing was sent: the listener is gone (a reset during the TCP handshake is the same
            // refusal: the listener closed before the connection was established).
            outcome.sent -= 1
            outcome.refused += 1
            return
          }
          if (isReset(error)) outcome.resets.push(requestId)
          else outcome.errors.push((error as Error).message)
        }
      }
    } finally {
      await client.destroy()
    }
  }

  await Promise.all(Array.from({ length: options.connections }, (_, index) => loop(index)))
  return outcome
}
