import type { FastifyBaseLogger } from 'fastify'
import type { GateConfig } from './config.js'
import { ProviderError, type Authorization } from './provider/client.js'
import type { Credential, GateStore, Handshake } from './store/types.js'

export type ClosedReason = 'gate-pending' | 'gate-failed' | 'key-expired' | 'key-rejected' | 'store-unavailable'

/** Why the last handshake failed, as readiness reports it. */
export type HandshakeError = 'provider-error' | 'timeout' | 'key-rejected'

export type GateStatus =
  | { open: true }
  | {
      open: false
      reason: ClosedReason
      retryInMs: number
      /** After a failure: the handshake attempt under way (gate-pending) or the one that failed (gate-failed). */
      attempt?: number
      lastError?: HandshakeError
    }

/** What became of a verified webhook. */
export type WebhookOutcome =
  /** It answered the handshake in flight: the key is stored and the gate opens. */
  | 'opened'
  /** It answers no handshake in flight (a stale or replayed callback): acknowledged, ignored. */
  | 'stale'
  /** It arrived while /authorize was still answering: the provider should deliver it again. */
  | 'early'

export interface WebhookPayload {
  requestId: string
  magicKey: string
  /** Lifetime of the key in seconds; absent when it does not expire. */
  expiresIn?: number
}

export interface GateOptions {
  provider: { authorize(callbackUrl: string, signal?: AbortSignal): Promise<Authorization> }
  store: GateStore
  config: GateConfig
  log: FastifyBaseLogger
  /** Counts handshakes by outcome, for /metrics. */
  onHandshake?: (outcome: 'started' | 'failed' | 'completed') => void
}

const MAX_TIMER_MS = 2 ** 31 - 1

/** The handshake claim lasts the webhook wait plus this, covering the /authorize call itself. */
const HANDSHAKE_CLAIM_MARGIN_MS = 5000

/** How often an instance waiting on another's handshake checks whether it is still running. */
const FOLLOWER_CHECK_MS = 1000

/** When nothing better is known (the provider has not given an ETA yet). */
const DEFAULT_ETA_MS = 1000

/**
 * Capped exponential backoff with "equal jitter": never less than half the step, so a failing
 * provider is not hammered, and spread so that many instances do not retry in lockstep.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * The handshake with the provider and the key it yields. Customer routes are open only while
 * `isOpen`; everything else here decides when that changes and tells readiness why it is closed.
 */
export class Gate {
  /** Read on every gated request, so a plain field rather than a getter. */
  isOpen = false
  /** Settles when the gate gives up after GATE_MAX_ATTEMPTS failed handshakes in a row. */
  readonly exhausted: Promise<Error>

  readonly #options: GateOptions
  #key: string | null = null
  #reason: ClosedReason = 'gate-pending'
  #closedAt = Date.now()
  #handshake: Handshake | null = null
  #authorizing = false
  #failures = 0
  #lastError: HandshakeError | null = null
  /** Failures before the key now held; they count again if the provider rejects that key unused. */
  #failuresBeforeKey = 0
  /** Whether the provider has accepted the key now held at least once. */
  #keyProven = false
  #exhausted = false
  #retryAt = 0
  #lastEtaMs = DEFAULT_ETA_MS
  #stopped = false
  /** A handshake is due but the store is down; its return resumes it. */
  #waitingForStore = false
  #callbackUrl = ''
  readonly #authorizeAbort = new AbortController()
  readonly #timers = new Map<'handshake' | 'retry' | 'refresh' | 'expiry', NodeJS.Timeout>()
  #giveUp!: (error: Error) => void

  constructor(options: GateOptions) {
    this.#options = options
    this.exhausted = new Promise((resolve) => {
      this.#giveUp = resolve
    })
    options.store.onCredential((credential) => this.#open(credential))
    options.store.onAvailabilityChange((available) => {
      if (!available || !this.#waitingForStore) return
      // Back from an outage: a key may have arrived meanwhile, else the handshake goes on now.
      this.#waitingForStore = false
      void this.#resume()
    })
  }

  /** The provider's key while the gate is open. */
  get key(): string | null {
    return this.#key
  }

  status(): GateStatus {
    if (this.isOpen) return { open: true }
    // Closed with the store down, no handshake can run here and no key can arrive.
    if (!this.#options.store.available()) return { open: false, reason: 'store-unavailable', retryInMs: this.retryInMs() }
    const status: GateStatus = { open: false, reason: this.#reason, retryInMs: this.retryInMs() }
    if (this.#failures > 0 && (this.#reason === 'gate-pending' || this.#reason === 'gate-failed')) {
      status.attempt = this.#reason === 'gate-pending' && !this.#exhausted ? this.#failures + 1 : this.#failures
      if (this.#lastError !== null) status.lastError = this.#lastError
    }
    return status
  }

  storeAvailable(): boolean {
    return this.#options.store.available()
  }

  /**
   * Opens from a stored key that is still valid, else starts the first handshake, giving the
   * provider `callbackUrl` for its webhook.
   */
  async start(callbackUrl: string): Promise<void> {
    this.#callbackUrl = callbackUrl
    this.#closedAt = Date.now()
    await this.#resume()
  }

  /** Takes a newer valid stored key (another instance may have fetched it), else runs a handshake. */
  async #resume(): Promise<void> {
    const stored = await this.#options.store.loadCredential().catch(() => null)
    if (stored && !this.#expired(stored) && stored.key !== this.#key) {
      this.#open(stored)
      return
    }
    void this.#runHandshake()
  }

  stop(): void {
    this.#stopped = true
    this.#authorizeAbort.abort()
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  async acceptWebhook(payload: WebhookPayload): Promise<WebhookOutcome> {
    const { store } = this.#options
    if (!(await store.takeHandshake(payload.requestId))) {
      return this.#authorizing ? 'early' : 'stale'
    }
    const expiresAt = payload.expiresIn === undefined ? null : Date.now() + payload.expiresIn * 1000
    await store.saveCredential({ key: payload.magicKey, expiresAt, requestId: payload.requestId })
    return 'opened'
  }

  /** The provider served a call with this key: a later rejection of it is not the handshake's fault. */
  confirmKey(key: string): void {
    if (key === this.#key) this.#keyProven = true
  }

  /**
   * The provider answered 401 to this key: close and fetch a new one. A key it rejects before
   * serving a single call with it means the handshake itself failed: it counts towards
   * GATE_MAX_ATTEMPTS and the next one waits out the backoff, so a provider that rejects every
   * key is not hammered. Concurrent 401s for one key close the gate once.
   */
  rejectKey(key: string): void {
    if (this.#key !== key) return
    this.#quietly(this.#options.store.discardCredential(key))
    this.#close('key-rejected')
    if (this.#keyProven) {
      void this.#runHandshake()
      return
    }
    this.#failures = this.#failuresBeforeKey
    this.#fail('key-rejected', new Error('the provider rejected the key it had just issued'))
  }

  #expired(credential: Credential): boolean {
    return credential.expiresAt !== null && credential.expiresAt <= Date.now()
  }

  /** How long until the gate is expected to open; meaningful while it is closed. */
  retryInMs(): number {
    const now = Date.now()
    if (this.#handshake) {
      const left = this.#handshake.etaAt - now
      return left > 0 ? left : DEFAULT_ETA_MS
    }
    if (this.#retryAt > now) return this.#retryAt - now + this.#lastEtaMs
    return this.#lastEtaMs
  }

  #setTimer(name: 'handshake' | 'retry' | 'refresh' | 'expiry', ms: number, run: () => void): void {
    clearTimeout(this.#timers.get(name))
    // setTimeout fires at once past ~24.8 days; a key living longer is waited for in hops.
    const hopMs = Math.min(ms, MAX_TIMER_MS)
    const next = hopMs < ms ? () => this.#setTimer(name, ms - hopMs, run) : run
    // Unref'd: the server keeps the process alive, a pending retry alone must not.
    this.#timers.set(name, setTimeout(next, hopMs).unref())
  }

  #clearTimer(name: 'handshake' | 'retry' | 'refresh' | 'expiry'): void {
    clearTimeout(this.#timers.get(name))
    this.#timers.delete(name)
  }

  async #runHandshake(): Promise<void> {
    if (this.#stopped || this.#authorizing || this.#handshake) return
    const { store, config } = this.#options
    this.#clearTimer('retry')
    // With the store down nobody can hold the claim: wait for it (its return resumes us)
    // rather than count the outage as a failed handshake.
    if (!store.available()) {
      this.#waitingForStore = true
      return
    }
    this.#authorizing = true
    let claimed: boolean
    let stored: Credential | null = null
    try {
      // The claim outlives the wait for the webhook, so a second instance does not start another.
      claimed = await store.claimHandshake(config.handshakeTimeoutMs + HANDSHAKE_CLAIM_MARGIN_MS)
      // Between our last look and the claim, another instance may have fetched a newer key.
      if (claimed) stored = await store.loadCredential()
    } catch (error) {
      this.#authorizing = false
      this.#options.log.debug({ reason: (error as Error).message }, 'store unreachable; handshake postponed')
      this.#setTimer('retry', config.backoffBaseMs, () => void this.#runHandshake())
      return
    }
    if (!claimed) {
      this.#authorizing = false
      // Another instance runs it and its key reaches us through the store; should that
      // instance die, its claim expires and one of us takes over at the next look.
      this.#setTimer('retry', Math.min(config.handshakeTimeoutMs, FOLLOWER_CHECK_MS), () => void this.#runHandshake())
      return
    }
    if (stored && !this.#expired(stored) && stored.key !== this.#key) {
      this.#authorizing = false
      this.#open(stored)
      return
    }
    await this.#authorize()
  }

  /** Asks the provider for a key; holds this instance's claim on the handshake meanwhile. */
  async #authorize(): Promise<void> {
    const { store, provider, config, log } = this.#options
    try {
      this.#options.onHandshake?.('started')
      // From now on readiness tells of this attempt, not of the failure or the close before it.
      this.#reason = 'gate-pending'
      const { requestId, etaMs } = await provider.authorize(this.#callbackUrl, this.#authorizeAbort.signal)
      if (this.#stopped) return
      this.#handshake = { requestId, etaAt: Date.now() + etaMs }
      this.#lastEtaMs = etaMs
      await store.setHandshake(this.#handshake)
      this.#authorizing = false
      this.#setTimer('handshake', config.handshakeTimeoutMs, () =>
        this.#fail('timeout', new Error(`no webhook within ${config.handshakeTimeoutMs} ms`)),
      )
      log.info({ event: 'gate-pending', requestId, etaMs }, `handshake started; the provider expects to call back in ${etaMs} ms`)
    } catch (error) {
      this.#authorizing = false
      if (this.#stopped) return
      const timedOut = error instanceof ProviderError && error.kind === 'timeout'
      this.#fail(timedOut ? 'timeout' : 'provider-error', error as Error)
    }
  }

  #fail(cause: HandshakeError, error: Error): void {
    const { store, config, log } = this.#options
    this.#clearTimer('handshake')
    // Only our own record: after a rejected key, another instance's handshake may be under way.
    if (this.#handshake) this.#quietly(store.setHandshake(null))
    this.#handshake = null
    this.#quietly(store.releaseHandshake())
    this.#failures += 1
    this.#lastError = cause
    this.#options.onHandshake?.('failed')
    if (config.maxAttempts > 0 && this.#failures >= config.maxAttempts) {
      this.#exhausted = true
      if (!this.isOpen) this.#reason = 'gate-failed'
      log.error({ event: 'gate-exhausted', attempts: this.#failures, reason: error.message }, 'handshake failed too many times; giving up')
      this.#giveUp(error)
      return
    }
    const delayMs = backoffDelay(this.#failures, config.backoffBaseMs, config.backoffMaxMs)
    this.#retryAt = Date.now() + delayMs
    if (!this.isOpen) this.#reason = 'gate-failed'
    log.warn(
      { event: 'handshake-failed', attempt: this.#failures, retryInMs: delayMs, cause, reason: error.message },
      `handshake failed (${error.message}); retrying in ${delayMs} ms`,
    )
    this.#setTimer('retry', delayMs, () => void this.#runHandshake())
  }

  #open(credential: Credential): void {
    if (this.#stopped || this.#expired(credential)) return
    const { store, config, log } = this.#options
    // Any fresh key ends the wait: ours, or (with a shared store) one another instance fetched.
    if (this.#handshake || this.#timers.has('retry')) {
      this.#clearTimer('handshake')
      this.#clearTimer('retry')
      this.#handshake = null
      this.#quietly(store.releaseHandshake())
    }
    this.#failuresBeforeKey = this.#failures
    this.#failures = 0
    this.#lastError = null
    this.#keyProven = false
    this.#retryAt = 0
    const wasOpen = this.isOpen
    this.#key = credential.key
    this.isOpen = true
    this.#options.onHandshake?.('completed')

    this.#clearTimer('refresh')
    this.#clearTimer('expiry')
    if (credential.expiresAt !== null) {
      const lifetimeMs = credential.expiresAt - Date.now()
      this.#setTimer('refresh', lifetimeMs * config.refreshAt, () => void this.#runHandshake())
      this.#setTimer('expiry', lifetimeMs, () => this.#expire(credential.key))
    }
    if (wasOpen) {
      log.info({ event: 'key-refreshed', expiresAt: credential.expiresAt }, 'key refreshed')
    } else {
      const elapsedMs = Date.now() - this.#closedAt
      log.info({ event: 'gate-open', elapsedMs }, `gate open after ${elapsedMs} ms: serving customers`)
    }
  }

  /**
   * Store upkeep that may fail while the store is down: the claim and the record expire by
   * themselves, so a failure here is logged, never thrown.
   */
  #quietly(operation: Promise<unknown>): void {
    operation.catch((error: Error) => this.#options.log.debug({ reason: error.message }, 'store upkeep failed'))
  }

  #expire(key: string): void {
    if (this.#key !== key) return
    this.#close('key-expired')
    void this.#runHandshake()
  }

  #close(reason: ClosedReason): void {
    this.isOpen = false
    this.#key = null
    this.#reason = reason
    this.#closedAt = Date.now()
    this.#clearTimer('refresh')
    this.#clearTimer('expiry')
    this.#options.log.warn({ event: 'gate-closed', reason }, `gate closed: ${reason}`)
  }
}
