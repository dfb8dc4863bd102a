import { buildConnector, Pool, type Dispatcher } from 'undici'

export interface Authorization {
  requestId: string
  /** The provider's estimate of when it will call back. */
  etaMs: number
}

export type ProviderFailure = 'unauthorized' | 'failed' | 'timeout'

export class ProviderError extends Error {
  /** The provider's HTTP status when it answered; undefined when it did not (unreachable, timeout). */
  readonly statusCode: number | undefined

  constructor(
    readonly kind: ProviderFailure,
    message: string,
    options?: ErrorOptions & { statusCode?: number },
  ) {
    super(message, options)
    this.name = 'ProviderError'
    this.statusCode = options?.statusCode
  }
}

/**
 * undici reconnects after a call cancelled in flight and leaves the new connection unused
 * (nodejs/undici#5845). A server never counts a connection that has not carried a request as
 * idle, so that one would hold the provider's graceful close until its headers timeout, a
 * minute or more. Once undici has had its turn with a new connection, one with nothing written
 * to it carries no request: closing it loses nothing.
 */
function closingUnused(connector: buildConnector.connector): buildConnector.connector {
  return (options, callback) =>
    connector(options, (...result) => {
      // undici writes any request waiting for this connection before its callback returns.
      callback(...result)
      const [, socket] = result
      if (socket && socket.bytesWritten === 0) socket.destroy()
    })
}

/** Talks to the provider over one keep-alive connection pool. */
export class ProviderClient {
  readonly #pool: Pool
  readonly #pathPrefix: string
  readonly #timeoutMs: number

  constructor(baseUrl: string, timeoutMs: number) {
    const url = new URL(baseUrl)
    this.#pathPrefix = url.pathname.replace(/\/+$/, '')
    this.#timeoutMs = timeoutMs
    this.#pool = new Pool(url.origin, { connect: closingUnused(buildConnector({})) })
  }

  async authorize(callbackUrl: string, signal?: AbortSignal): Promise<Authorization> {
    const options = {
      method: 'POST',
      path: '/authorize',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callbackUrl }),
    } as const
    return this.#call(options, signal, async ({ statusCode, body }) => {
      if (statusCode !== 202 && statusCode !== 200) {
        await body.dump()
        throw new ProviderError('failed', `the provider answered ${statusCode} to /authorize`, { statusCode })
      }
      const answer = (await body.json().catch(() => null)) as Partial<Authorization> | null
      if (typeof answer?.requestId !== 'string' || answer.requestId === '' || !(Number(answer.etaMs) >= 0)) {
        throw new ProviderError('failed', 'the provider answered /authorize without a requestId and etaMs')
      }
      return { requestId: answer.requestId, etaMs: Number(answer.etaMs) }
    })
  }

  /**
   * Fetches the customer's data; `signal` cancels the call when the customer hangs up or the
   * service shuts down.
   */
  async fetchData(key: string, signal: AbortSignal): Promise<unknown> {
    const options = { method: 'GET', path: '/data', headers: { authorization: `Bearer ${key}` } } as const
    return this.#call(options, signal, async ({ statusCode, body }) => {
      if (statusCode === 401) {
        await body.dump()
        throw new ProviderError('unauthorized', 'the provider rejected the key', { statusCode })
      }
      if (statusCode !== 200) {
        await body.dump()
        throw new ProviderError('failed', `the provider answered ${statusCode} to /data`, { statusCode })
      }
      return body.json()
    })
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  /**
   * One call, its answer read by `read`, within the timeout. A timeout is the provider's doing
   * (504); `signal` aborting is the caller's (gone, or shutting down): that error goes through
   * unchanged.
   */
  async #call<T>(
    options: Omit<Dispatcher.RequestOptions, 'signal'>,
    signal: AbortSignal | undefined,
    read: (response: Dispatcher.ResponseData) => Promise<T>,
  ): Promise<T> {
    // Not undici's headersTimeout/bodyTimeout: past a second they run on a timer that ticks
    // every half second, so a 2 s timeout fired up to 2.5 s late. Not AbortSignal.timeout
    // either: its timer cannot be cleared and would outlive every call that answers in time.
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(), this.#timeoutMs)
    try {
      const response = await this.#pool.request({
        ...options,
        path: this.#pathPrefix + options.path,
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      })
      return await read(response)
    } catch (error) {
      if (signal?.aborted) throw error
      if (timeout.signal.aborted) throw new ProviderError('timeout', 'the provider did not answer in time', { cause: error })
      if (error instanceof ProviderError) throw error
      throw new ProviderError('failed', `the provider could not be reached: ${(error as Error).message}`, {
        cause: error,
      })
    } finally {
      clearTimeout(timer)
    }
  }
}
