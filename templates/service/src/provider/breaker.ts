import CircuitBreaker from 'opossum'
import type { BreakerConfig } from '../config.js'
import type { BreakerState } from '../events.js'
import { ProviderError } from './client.js'

type FetchData = (key: string, signal: AbortSignal) => Promise<unknown>

/** What a refused caller is told once the breaker is half-open: its trial call decides soon. */
const HALF_OPEN_RETRY_MS = 1000

/**
 * A failed call that says nothing about the provider's health, so the breaker does not count
 * it: a call its caller cancelled (the client hung up, or the service is shutting down), and a
 * 4xx the provider meant (a rejected key has its own path: the gate closes and fetches a new
 * one). 408 and 429 do count: they are the provider saying it is overloaded.
 */
function notTheProvidersFault(error: unknown, _key: string, signal: AbortSignal): boolean {
  if (signal.aborted) return true
  if (!(error instanceof ProviderError) || error.statusCode === undefined) return false
  const { statusCode } = error
  return statusCode >= 400 && statusCode < 500 && statusCode !== 408 && statusCode !== 429
}

/**
 * Provider data calls through a circuit breaker (opossum). Once enough of them fail or time out,
 * it opens: calls are refused at once for BREAKER_RESET_MS rather than each waiting out
 * PROVIDER_TIMEOUT_MS; then it lets one trial call through (half-open) and closes again when that
 * one succeeds. `onChange` hears every change of state.
 *
 * opossum counts a call its errorFilter excuses as a success: a half-open breaker whose trial
 * call is cancelled closes, and the failures that follow open it again.
 */
export class DataBreaker {
  readonly #breaker: CircuitBreaker<[key: string, signal: AbortSignal], unknown>
  /** When the open breaker lets a trial call through. */
  #halfOpensAt = 0

  constructor(fetchData: FetchData, config: BreakerConfig, onChange: (state: BreakerState) => void) {
    this.#breaker = new CircuitBreaker(fetchData, {
      // The client's PROVIDER_TIMEOUT_MS ends a slow call and cancels it; opossum's own timeout
      // would leave the call running.
      timeout: false,
      errorThresholdPercentage: config.errorThresholdPercent,
      volumeThreshold: config.volumeThreshold,
      resetTimeout: config.resetMs,
      // opossum passes the call's arguments after the error (nodeshift/opossum#492); its types
      // still declare the error alone.
      errorFilter: notTheProvidersFault as (error: unknown) => boolean,
      // Nobody reads its snapshots or latency percentiles: no timer for them, no sort per failure.
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
    })
    this.#breaker.on('open', () => {
      this.#halfOpensAt = Date.now() + config.resetMs
      onChange('open')
    })
    this.#breaker.on('halfOpen', () => onChange('half-open'))
    this.#breaker.on('close', () => onChange('closed'))
  }

  get state(): BreakerState {
    if (this.#breaker.opened) return 'open'
    return this.#breaker.halfOpen ? 'half-open' : 'closed'
  }

  /** The provider's data, unless the breaker refuses the call: see `isBreakerRejection`. */
  fetchData(key: string, signal: AbortSignal): Promise<unknown> {
    return this.#breaker.fire(key, signal)
  }

  /** While it refuses calls: how long until it lets one through, or until its trial call has answered. */
  retryInMs(): number {
    return Math.max(HALF_OPEN_RETRY_MS, this.#halfOpensAt - Date.now())
  }

  shutdown(): void {
    this.#breaker.shutdown()
  }
}

/** The breaker refused the call without making it: open, or half-open with its trial under way. */
export function isBreakerRejection(error: unknown): boolean {
  return error instanceof Error && CircuitBreaker.isOurError(error)
}
