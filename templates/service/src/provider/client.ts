import { Pool, errors, type Dispatcher } from 'undici'

export interface Authorization {
  requestId: string
  /** The provider's estimate of when it will call back. */
  etaMs: number
}

export type ProviderFailure = 'unauthorized' | 'failed' | 'timeout'

export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'ProviderError'
  }
}

/** Talks to the provider over one keep-alive connection pool. */
export class ProviderClient {
  readonly #pool: Pool
  readonly #pathPrefix: string

  constructor(baseUrl: string, timeoutMs: number) {
    const url = new URL(baseUrl)
    this.#pathPrefix = url.pathname.replace(/\/+$/, '')
    // undici's own timeouts tell a slow provider (504) apart from a failing one (502).
    this.#pool = new Pool(url.origin, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
  }

  async authorize(callbackUrl: string, signal?: AbortSignal): Promise<Authorization> {
    const { statusCode, body } = await this.#request({
      method: 'POST',
      path: '/authorize',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callbackUrl }),
      signal,
    })
    if (statusCode !== 202 && statusCode !== 200) {
      await body.dump()
      throw new ProviderError('failed', `the provider answered ${statusCode} to /authorize`)
    }
    const answer = (await body.json().catch(() => null)) as Partial<Authorization> | null
    if (typeof answer?.requestId !== 'string' || answer.requestId === '' || !(Number(answer.etaMs) >= 0)) {
      throw new ProviderError('failed', 'the provider answered /authorize without a requestId and etaMs')
    }
    return { requestId: answer.requestId, etaMs: Number(answer.etaMs) }
  }

  /** Fetches the customer's data; `signal` cancels the call when the customer hangs up. */
  async fetchData(key: string, signal: AbortSignal): Promise<unknown> {
    const { statusCode, body } = await this.#request({
      method: 'GET',
      path: '/data',
      headers: { authorization: `Bearer ${key}` },
      signal,
    })
    if (statusCode === 401) {
      await body.dump()
      throw new ProviderError('unauthorized', 'the provider rejected the key')
    }
    if (statusCode !== 200) {
      await body.dump()
      throw new ProviderError('failed', `the provider answered ${statusCode} to /data`)
    }
    return body.json()
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  async #request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await this.#pool.request({ ...options, path: this.#pathPrefix + options.path })
    } catch (error) {
      // A cancelled call is the caller's doing, not the provider's: let it through unchanged.
      if (options.signal && (options.signal as AbortSignal).aborted) throw error
      if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
        throw new ProviderError('timeout', 'the provider did not answer in time', { cause: error })
      }
      throw new ProviderError('failed', `the provider could not be reached: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }
}
