import { context, ROOT_CONTEXT, SpanStatusCode, trace, type Span } from '@opentelemetry/api'
import type { GateConfig } from './config.js'
import type { ClosedReason, GateEvent, GateStateName, HandshakeError, ServiceEvents } from './events.js'
import { Coordination, type Claim } from './gate-coordination.js'
import { backoffDelay, systemClock, Timers, type Clock } from './gate-timers.js'
import { ProviderError, type Authorization } from './provider/client.js'
import { tracer } from './spans.js'
import type { Credential, GateStore, Handshake } from './store/types.js'

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
  /** Where each transition and handshake outcome is published. */
  events: ServiceEvents
  clock?: Clock
  /** The backoff's jitter, in [0, 1). */
  random?: () => number
}

/** When nothing better is known (the provider has not given an ETA yet). */
const DEFAULT_ETA_MS = 1000

/** What the gate itself says while closed; readiness says `store-unavailable` over it while the store is down. */
type GateReason = Exclude<ClosedReason, 'store-unavailable'>

/**
 * A handshake's progress: the whole state of a closed gate, the refresh of an open gate's key.
 * A step that ends by itself carries the instant it ends at.
 */
type HandshakeStep =
  | { name: 'claiming' }
  | { name: 'authorizing' }
  /** Ends at `timeoutAt` as a failed handshake, unless the webhook came first. */
  | { name: 'awaiting-webhook'; handshake: Handshake; timeoutAt: number }
  | { name: 'backing-off'; retryAt: number }
  | { name: 'following'; checkAt: number }
  /** `retryAt` after a store call failed; null: the store's return resumes it. */
  | { name: 'waiting-for-store'; retryAt: number | null }
  | { name: 'exhausted' }

type GateState =
  /** Not started. */
  | { name: 'idle' }
  /** Closed, before the next handshake starts. */
  | { name: 'closed'; reason: 'key-expired' | 'key-rejected' }
  /** Closed while a handshake goes on; `reason` is what readiness says meanwhile. */
  | (HandshakeStep & { reason: GateReason })
  | {
      name: 'open'
      credential: Credential
      /** Set once the provider served a call with this key (no transition: the gate stays open). */
      proven: boolean
      /** Failed handshakes before this key; they count again if the provider rejects it unused. */
      failuresBefore: number
      /** The key's refresh, while one is under way. */
      refresh: HandshakeStep | null
    }

type ClosedState = Exclude<GateState, { name: 'open' }>

function stepOf(state: GateState): HandshakeStep | null {
  if (state.name === 'open') return state.refresh
  return state.name === 'idle' || state.name === 'closed' ? null : state
}

/** When a step ends by itself; null for a step that something else ends. */
function deadlineOf(step: HandshakeStep | null): number | null {
  switch (step?.name) {
    case 'awaiting-webhook':
      return step.timeoutAt
    case 'backing-off':
    case 'waiting-for-store':
      return step.retryAt
    case 'following':
      return step.checkAt
    default:
      return null
  }
}

/**
 * The handshake with the provider and the key it yields, as a state machine: one `GateState`
 * at a time, changed in `#transition` only, which publishes each change. Customer routes are
 * open only while `isOpen`. Timers live in `gate-timers.ts`, the store's side of the handshake
 * in `gate-coordination.ts`.
 */
export class Gate {
  /** Read on every gated request, so a plain field rather than a getter; `#transition` keeps it. */
  isOpen = false
  /** Settles when the gate gives up after GATE_MAX_ATTEMPTS failed handshakes in a row. */
  readonly exhausted: Promise<Error>

  readonly #provider: GateOptions['provider']
  readonly #config: GateConfig
  readonly #events: ServiceEvents
  readonly #clock: Clock
  readonly #random: () => number
  readonly #coordination: Coordination
  readonly #timers: Timers<'step' | 'refresh' | 'expiry'>
  readonly #authorizeAbort = new AbortController()
  #state: GateState = { name: 'idle' }
  /** Failed handshakes in a row since the last key, and why the last one failed. */
  #failures = 0
  #lastError: HandshakeError | null = null
  /** The provider's last ETA: the best guess of the wait while no webhook is awaited. */
  #lastEtaMs = DEFAULT_ETA_MS
  /** Since when the gate is closed, for the time it took to open. */
  #closedAt: number
  /** Counts the handshakes begun: an async step of an earlier one finds it was superseded. */
  #run = 0
  #stopped = false
  #callbackUrl = ''
  #giveUp!: (error: Error) => void
  /** The handshake with the provider under way, as a trace span (a no-op without tracing): from /authorize to its key or its failure. */
  #handshakeSpan: Span | null = null

  constructor({ provider, store, config, events, clock = systemClock, random = Math.random }: GateOptions) {
    this.#provider = provider
    this.#config = config
    this.#events = events
    this.#clock = clock
    this.#random = random
    this.#coordination = new Coordination(store, clock, config.handshakeTimeoutMs)
    this.#timers = new Timers(clock)
    this.#closedAt = clock.now()
    this.exhausted = new Promise((resolve) => {
      this.#giveUp = resolve
    })
    this.#coordination.onCredential((credential) => this.#open(credential))
    this.#coordination.onRevocation((credential) => this.#expireKey(credential.key))
    this.#coordination.onStoreBack(() => {
      // Back from an outage: a key may have arrived meanwhile, else the handshake goes on now.
      if (stepOf(this.#state)?.name === 'waiting-for-store') void this.#resume()
    })
  }

  /** The provider's key while the gate is open. */
  get key(): string | null {
    return this.#state.name === 'open' ? this.#state.credential.key : null
  }

  status(): GateStatus {
    const state = this.#state
    if (state.name === 'open') return { open: true }
    // Closed with the store down, no handshake can run here and no key can arrive.
    if (!this.#coordination.available()) return { open: false, reason: 'store-unavailable', retryInMs: this.retryInMs() }
    return { open: false, ...this.#closedDetail(state) }
  }

  storeAvailable(): boolean {
    return this.#coordination.available()
  }

  /** How long until the gate is expected to open; meaningful while it is closed. */
  retryInMs(): number {
    const step = stepOf(this.#state)
    const now = this.#clock.now()
    if (step?.name === 'awaiting-webhook') {
      const left = step.handshake.etaAt - now
      return left > 0 ? left : DEFAULT_ETA_MS
    }
    if (step?.name === 'backing-off' && step.retryAt > now) return step.retryAt - now + this.#lastEtaMs
    return this.#lastEtaMs
  }

  /**
   * Opens from a stored key that is still valid, else starts the first handshake, giving the
   * provider `callbackUrl` for its webhook.
   */
  async start(callbackUrl: string): Promise<void> {
    this.#callbackUrl = callbackUrl
    this.#closedAt = this.#clock.now()
    await this.#resume()
  }

  stop(): void {
    this.#stopped = true
    this.#authorizeAbort.abort()
    this.#timers.clearAll()
    this.#endHandshakeSpan()
  }

  async acceptWebhook(payload: WebhookPayload): Promise<WebhookOutcome> {
    if (!(await this.#coordination.takeHandshake(payload.requestId))) {
      const step = stepOf(this.#state)?.name
      return step === 'claiming' || step === 'authorizing' ? 'early' : 'stale'
    }
    await this.#coordination.save(payload)
    return 'opened'
  }

  /** The provider served a call with this key: a later rejection of it is not the handshake's fault. */
  confirmKey(key: string): void {
    const state = this.#state
    if (state.name === 'open' && state.credential.key === key) state.proven = true
  }

  /**
   * The provider answered 401 to this key: close and fetch a new one. A key it rejects before
   * serving a single call with it means the handshake itself failed: it counts towards
   * GATE_MAX_ATTEMPTS and the next one waits out the backoff, so a provider that rejects every
   * key is not hammered. Concurrent 401s for one key close the gate once.
   */
  rejectKey(key: string): void {
    const state = this.#state
    if (this.#stopped || state.name !== 'open' || state.credential.key !== key) return
    this.#coordination.discard(key)
    this.#close('key-rejected')
    if (state.proven) {
      this.#beginHandshake()
      return
    }
    this.#failures = state.failuresBefore
    this.#fail('key-rejected', new Error('the provider rejected the key it had just issued'))
  }

  /**
   * Expires the key now: discards it here and in the store, which tells every instance sharing
   * it to let it go too, then starts a new handshake. False when there is no key to expire.
   */
  async expire(): Promise<boolean> {
    const state = this.#state
    if (state.name !== 'open') return false
    await this.#coordination.revoke(state.credential)
    this.#expireKey(state.credential.key)
    return true
  }

  /** The one place the state changes: keeps `isOpen` and the timers in step, and publishes the change. */
  #transition(next: GateState): void {
    if (this.#stopped) return
    const previous = this.#state
    this.#state = next
    this.isOpen = next.name === 'open'

    const stepBefore = stepOf(previous)
    const stepAfter = stepOf(next)
    // A step that goes on (a refresh under way as the gate closes) keeps its timer.
    if (stepAfter?.name !== stepBefore?.name || deadlineOf(stepAfter) !== deadlineOf(stepBefore)) this.#scheduleStep(stepAfter)
    const keyAfter = next.name === 'open' ? next.credential : null
    if (keyAfter !== (previous.name === 'open' ? previous.credential : null)) this.#scheduleKey(keyAfter)

    const now = this.#clock.now()
    let elapsedMs: number | undefined
    if (next.name === 'open' && previous.name !== 'open') elapsedMs = now - this.#closedAt
    if (next.name !== 'open' && previous.name === 'open') this.#closedAt = now
    this.#events.publish('gate', this.#describe(next, previous.name, elapsedMs))
  }

  #scheduleStep(step: HandshakeStep | null): void {
    this.#timers.clear('step')
    const deadline = deadlineOf(step)
    if (deadline === null) return
    const { handshakeTimeoutMs } = this.#config
    const end =
      step?.name === 'awaiting-webhook'
        ? () => this.#fail('timeout', new Error(`no webhook within ${handshakeTimeoutMs} ms`))
        : () => this.#beginHandshake()
    this.#timers.set('step', deadline - this.#clock.now(), end)
  }

  /** A key that expires is refreshed at GATE_REFRESH_AT of its lifetime, and closes the gate when it expires first. */
  #scheduleKey(credential: Credential | null): void {
    this.#timers.clear('refresh')
    this.#timers.clear('expiry')
    if (credential === null || credential.expiresAt === null) return
    const lifetimeMs = credential.expiresAt - this.#clock.now()
    this.#timers.set('refresh', lifetimeMs * this.#config.refreshAt, () => this.#beginHandshake())
    this.#timers.set('expiry', lifetimeMs, () => this.#expireKey(credential.key))
  }

  #describe(state: GateState, from: GateStateName, elapsedMs: number | undefined): GateEvent {
    let event: GateEvent
    if (state.name === 'open') event = { state: 'open', from }
    else {
      const { retryInMs, ...detail } = this.#closedDetail(state)
      event = { state: state.name, from, ...detail, etaMs: retryInMs }
    }
    if (elapsedMs !== undefined) event.elapsedMs = elapsedMs
    const step = stepOf(state)
    if (state.name === 'open' && step !== null) event.refresh = step.name
    if (step?.name === 'awaiting-webhook') {
      event.requestId = step.handshake.requestId
      event.etaMs = Math.max(0, step.handshake.etaAt - this.#clock.now())
    }
    return event
  }

  /** Why a closed gate is closed, for how long yet, and after a failure the attempt it is at and why the last one failed. */
  #closedDetail(state: ClosedState): { reason: GateReason; retryInMs: number; attempt?: number; lastError?: HandshakeError } {
    const reason = state.name === 'idle' ? 'gate-pending' : state.reason
    const retryInMs = this.retryInMs()
    if (this.#failures === 0 || this.#lastError === null || (reason !== 'gate-pending' && reason !== 'gate-failed')) return { reason, retryInMs }
    // gate-pending: the attempt under way; gate-failed: the one that failed.
    const attempt = reason === 'gate-pending' ? this.#failures + 1 : this.#failures
    return { reason, retryInMs, attempt, lastError: this.#lastError }
  }

  /** Moves to a handshake step: the refresh of an open gate, else the closed gate's state with `reason` (or the one it had). */
  #enter(step: HandshakeStep, reason?: GateReason): void {
    const state = this.#state
    if (state.name === 'open') this.#transition({ ...state, refresh: step })
    else this.#transition({ ...step, reason: reason ?? (state.name === 'idle' ? 'gate-pending' : state.reason) })
  }

  #isCurrent(run: number, step: 'claiming' | 'authorizing'): boolean {
    return !this.#stopped && this.#run === run && stepOf(this.#state)?.name === step
  }

  /** Takes a newer valid stored key (another instance may have fetched it), else goes on with the handshake. */
  async #resume(): Promise<void> {
    const before = this.#state
    const stored = await this.#coordination.storedKey()
    // Whatever happened meanwhile (a key arrived, a retry began) decides instead.
    if (this.#state !== before) return
    if (stored && stored.key !== this.key) this.#open(stored)
    else if (before.name !== 'open' || before.refresh !== null) this.#beginHandshake()
  }

  /** Starts a handshake now, cutting short a wait before one; not while one is under way, nor once the gate gave up. */
  #beginHandshake(): void {
    const step = stepOf(this.#state)?.name
    if (this.#stopped || step === 'claiming' || step === 'authorizing' || step === 'awaiting-webhook' || step === 'exhausted') return
    if (!this.#coordination.available()) {
      // Nobody can hold the claim: wait for the store (its return resumes us) rather than count
      // the outage as a failed handshake.
      this.#enter({ name: 'waiting-for-store', retryAt: null })
      return
    }
    const run = ++this.#run
    this.#enter({ name: 'claiming' })
    void this.#claim(run)
  }

  async #claim(run: number): Promise<void> {
    let claim: Claim
    try {
      claim = await this.#coordination.claim()
    } catch {
      if (!this.#isCurrent(run, 'claiming')) return
      // The store failed mid-call: postponed, not a failed handshake.
      this.#enter({ name: 'waiting-for-store', retryAt: this.#clock.now() + this.#config.backoffBaseMs })
      return
    }
    if (!this.#isCurrent(run, 'claiming')) {
      if (claim.claimed) this.#coordination.release()
      return
    }
    if (!claim.claimed) {
      this.#enter({ name: 'following', checkAt: this.#clock.now() + this.#coordination.followerCheckMs })
      return
    }
    if (claim.stored && claim.stored.key !== this.key) {
      this.#coordination.release()
      this.#open(claim.stored)
      return
    }
    await this.#authorize(run)
  }

  /** Asks the provider for a key, holding this instance's claim on the handshake meanwhile. */
  async #authorize(run: number): Promise<void> {
    // From now on readiness tells of this attempt, not of the failure or the close before it.
    this.#enter({ name: 'authorizing' }, 'gate-pending')
    const attempt = this.#failures + 1
    this.#events.publish('handshake', { outcome: 'started', attempt })
    // A trace of its own, whatever began it (a timer, a customer request meeting a rejected key);
    // the /authorize call is its child.
    const span = tracer.startSpan('gatekeep.handshake', {
      root: true,
      attributes: { 'gatekeep.handshake.attempt': attempt, 'gatekeep.handshake.refresh': this.#state.name === 'open' },
    })
    this.#handshakeSpan = span
    let authorization: Authorization
    try {
      authorization = await context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
        this.#provider.authorize(this.#callbackUrl, this.#authorizeAbort.signal),
      )
    } catch (error) {
      if (!this.#isCurrent(run, 'authorizing')) return
      const timedOut = error instanceof ProviderError && error.kind === 'timeout'
      this.#fail(timedOut ? 'timeout' : 'provider-error', error as Error)
      return
    }
    if (!this.#isCurrent(run, 'authorizing')) return
    const { requestId, etaMs } = authorization
    span.setAttributes({ 'gatekeep.handshake.request_id': requestId, 'gatekeep.handshake.eta_ms': etaMs })
    const handshake = { requestId, etaAt: this.#clock.now() + etaMs }
    try {
      await this.#coordination.record(handshake)
    } catch {
      if (!this.#isCurrent(run, 'authorizing')) return
      // Without its record no webhook can answer this handshake; the store is to blame, not the provider.
      this.#endHandshakeSpan('the store could not record the handshake')
      this.#coordination.release()
      this.#enter({ name: 'waiting-for-store', retryAt: this.#clock.now() + this.#config.backoffBaseMs })
      return
    }
    if (!this.#isCurrent(run, 'authorizing')) return
    this.#lastEtaMs = etaMs
    this.#enter({ name: 'awaiting-webhook', handshake, timeoutAt: this.#clock.now() + this.#config.handshakeTimeoutMs })
  }

  #fail(error: HandshakeError, cause: Error): void {
    this.#handshakeSpan?.setAttribute('gatekeep.handshake.error', error)
    this.#endHandshakeSpan(cause.message)
    if (stepOf(this.#state)?.name === 'awaiting-webhook') this.#coordination.forget()
    this.#coordination.release()
    this.#failures += 1
    this.#lastError = error
    const attempt = this.#failures
    const { maxAttempts, backoffBaseMs, backoffMaxMs } = this.#config
    if (maxAttempts > 0 && attempt >= maxAttempts) {
      this.#events.publish('handshake', { outcome: 'exhausted', attempt, error, message: cause.message })
      this.#enter({ name: 'exhausted' }, 'gate-failed')
      this.#giveUp(cause)
      return
    }
    const retryInMs = backoffDelay(attempt, backoffBaseMs, backoffMaxMs, this.#random)
    this.#events.publish('handshake', { outcome: 'failed', attempt, error, message: cause.message, retryInMs })
    this.#enter({ name: 'backing-off', retryAt: this.#clock.now() + retryInMs }, 'gate-failed')
  }

  #open(credential: Credential): void {
    if (this.#stopped || !this.#coordination.usable(credential)) return
    const state = this.#state
    // Any fresh key ends the handshake under way: ours, or (with a shared store) one another instance fetched.
    const step = stepOf(state)?.name
    if (step === 'authorizing' || step === 'awaiting-webhook') this.#coordination.release()
    // With a handshake of ours under way, the active span is the webhook applying its key, when
    // that webhook reached this instance rather than another one sharing the store.
    const webhook = trace.getActiveSpan()
    if (webhook) this.#handshakeSpan?.addLink({ context: webhook.spanContext() })
    this.#endHandshakeSpan()
    const failuresBefore = this.#failures
    this.#failures = 0
    this.#lastError = null
    this.#transition({ name: 'open', credential, proven: false, failuresBefore, refresh: null })
    this.#events.publish('handshake', {
      outcome: 'completed',
      attempt: failuresBefore + 1,
      requestId: credential.requestId,
      expiresAt: credential.expiresAt,
      refreshed: state.name === 'open',
    })
  }

  /** A refresh under way goes on with the gate closed: its key reopens it. */
  #close(reason: 'key-expired' | 'key-rejected'): void {
    const state = this.#state
    if (state.name !== 'open') return
    this.#transition(state.refresh === null ? { name: 'closed', reason } : { ...state.refresh, reason })
  }

  /** Ends the handshake's span, if one is under way; with `failure`, as an error. */
  #endHandshakeSpan(failure?: string): void {
    const span = this.#handshakeSpan
    if (span === null) return
    this.#handshakeSpan = null
    if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure })
    span.end()
  }

  #expireKey(key: string): void {
    if (this.key !== key) return
    this.#close('key-expired')
    this.#beginHandshake()
  }
}
