import { channel } from 'node:diagnostics_channel'

// What the service does, published on `node:diagnostics_channel` channels named `gatekeep:<type>`.
// Its own logs and metrics subscribe here, `gatekeep dev` forwards them to its terminal and
// console, and your monitoring may subscribe too:
//
//   import { subscribe } from 'node:diagnostics_channel'
//   subscribe('gatekeep:gate', (event) => console.log(event))
//
// Publishing to a channel nobody subscribes to costs nothing: each message is built only when
// there is a subscriber. Customer requests are never published one by one: they are counted, and
// the totals go out once per REQUESTS_INTERVAL_MS.

/** What the gate is doing: one state at a time (src/gate.ts holds the machine). */
export type GateStateName =
  /** Not started: the server is not listening yet. */
  | 'idle'
  /** Taking the right to run the handshake (the store's claim; instant with the memory store). */
  | 'claiming'
  /** Claimed; `/authorize` called and not answered yet (a webhook arriving now is early). */
  | 'authorizing'
  /** `/authorize` answered; waiting for the provider's webhook. */
  | 'awaiting-webhook'
  /** A handshake failed; the next one starts after the backoff. */
  | 'backing-off'
  /** Another instance runs the handshake; its key reaches this one through the store. */
  | 'following'
  /** The store is down: no handshake can run until it is back. */
  | 'waiting-for-store'
  /** Customer routes are served. */
  | 'open'
  /** Closed for a reason, before the next handshake starts. */
  | 'closed'
  /** GATE_MAX_ATTEMPTS failed handshakes in a row: the service gives up. */
  | 'exhausted'

/** A handshake under way while the gate stays open: the key's refresh. */
export type RefreshStateName = Exclude<GateStateName, 'idle' | 'open' | 'closed'>

/** Why the last handshake failed. */
export type HandshakeError = 'provider-error' | 'timeout' | 'key-rejected'

/** Why a closed gate is closed, as readiness reports it. */
export type ClosedReason = 'gate-pending' | 'gate-failed' | 'key-expired' | 'key-rejected' | 'store-unavailable'

/** What made a gated route answer without serving (the gate's 503, and the others to come). */
export type RefusalCause = 'gate' | 'pressure' | 'shutdown' | 'breaker' | 'limiter'

export interface GateEvent {
  state: GateStateName
  /** The state left: `from: 'open'` to another state is the gate closing. */
  from: GateStateName
  /**
   * Why the gate is not open (readiness says `store-unavailable` instead while the store is
   * down). A refresh under way when the key expires goes on, with `key-expired` as its reason.
   */
  reason?: ClosedReason
  /** While open: the refresh handshake's state, when one is under way. */
  refresh?: RefreshStateName
  /** When the gate is expected to open, from now; for an awaiting refresh, when its webhook is due. */
  etaMs?: number
  /** The handshake whose webhook is awaited (awaiting-webhook, or an open gate's refresh). */
  requestId?: string
  /** How long the gate was closed, on opening. */
  elapsedMs?: number
  /** The handshake attempt under way, or the one that failed; counts from 1 after a failure. */
  attempt?: number
  lastError?: HandshakeError
}

export interface HandshakeEvent {
  outcome: 'started' | 'completed' | 'failed' | 'exhausted'
  attempt: number
  /** The provider's id for it: the handshake whose key completed it. */
  requestId?: string
  /** Completed: when the new key expires (epoch ms; null: never). */
  expiresAt?: number | null
  error?: HandshakeError
  /** A human sentence for the failure; never contains the key. */
  message?: string
  /** After a failure: when the next attempt starts. */
  retryInMs?: number
  /** A completed handshake that replaced a key still valid (a refresh before expiry). */
  refreshed?: boolean
}

/** Why a webhook was refused: no signature headers (401), a signature that does not verify (401), a signed body that is no webhook (400). */
export type WebhookRefusal = 'unsigned' | 'bad-signature' | 'bad-body'

export interface WebhookEvent {
  outcome:
    | 'received'
    /** Not verified or not a webhook: see `refusal`. */
    | 'refused'
    /** A webhook-id seen before: acknowledged, not applied again. */
    | 'duplicate'
    /** For a handshake no longer in flight: acknowledged, ignored. */
    | 'stale'
    /** Arrived while `/authorize` was still answering: the provider delivers it again. */
    | 'early'
    /** Opened the gate (or refreshed its key). */
    | 'applied'
    /** The store was down: refused with 503 so that the provider delivers it again. */
    | 'deferred'
  /** The handshake it answers, once its body was read. */
  requestId?: string
  /** The HTTP request that delivered it (its `x-request-id`), as in that request's log lines. */
  reqId: string
  refusal?: WebhookRefusal
  /** A human sentence: why it was refused or deferred. */
  reason?: string
}

export interface RequestsEvent {
  /** The interval these totals cover. */
  intervalMs: number
  total: number
  /** Count per status code, e.g. {"200": 41, "503": 12}. */
  byStatus: Record<string, number>
  /** Requests answered without being served, per cause. */
  byCause: Partial<Record<RefusalCause, number>>
  /** Requests whose client hung up before the answer. */
  aborted: number
}

export interface AbortEvent {
  requestId: string
  /** Epoch ms (fractional) when its response closed unfinished: the hang-up was noticed. */
  detectedAt: number
  /** From the request's arrival to that moment. */
  detectedAfterMs: number
  /** Whether its downstream call was cancelled; null when none was in flight. */
  cancelled: boolean | null
}

/**
 * The provider circuit breaker's state (src/provider/breaker.ts): `open` refuses customer data
 * calls at once, `half-open` lets one trial call through, `closed` lets every call through.
 */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** Every event's own fields, by type; the channel of `type` is `gatekeep:<type>`. */
export interface GatekeepEvents {
  listening: { url: string }
  'listen-failed': { code: string | null; message: string }
  gate: GateEvent
  handshake: HandshakeEvent
  webhook: WebhookEvent
  requests: RequestsEvent
  abort: AbortEvent
  store: { up: boolean }
  shutdown: { phase: 'draining' | 'closing'; signal: string | null; drainMs?: number }
  breaker: { state: BreakerState }
}

export type EventType = keyof GatekeepEvents

export const EVENT_TYPES = [
  'listening',
  'listen-failed',
  'gate',
  'handshake',
  'webhook',
  'requests',
  'abort',
  'store',
  'shutdown',
  'breaker',
] as const satisfies readonly EventType[]

export const CHANNEL_PREFIX = 'gatekeep:'

/** How often customer request totals are published. */
export const REQUESTS_INTERVAL_MS = 100

/**
 * A message as published: the event's fields, its `type`, and `app`, which tells apart several
 * apps in one process (tests run many); a process running one service has one.
 */
export type Published<T extends EventType = EventType> = { [K in T]: { type: K; app: number } & GatekeepEvents[K] }[T]

const channels = Object.fromEntries(EVENT_TYPES.map((type) => [type, channel(`${CHANNEL_PREFIX}${type}`)])) as {
  [T in EventType]: ReturnType<typeof channel>
}

let lastAppId = 0

/** One app's side of the channels: what it publishes, and subscriptions to its own events. */
export class ServiceEvents {
  readonly app = ++lastAppId
  readonly #tally: RequestTally

  constructor() {
    this.#tally = new RequestTally((totals) => this.publish('requests', totals))
  }

  /** Whether anyone listens to `type`: build costly fields only when this is true. */
  observed(type: EventType): boolean {
    return channels[type].hasSubscribers
  }

  publish<T extends EventType>(type: T, event: GatekeepEvents[T]): void {
    const target = channels[type]
    if (target.hasSubscribers) target.publish({ type, app: this.app, ...event })
  }

  /** Subscribes to this app's events of `type` only; returns the unsubscribe. */
  subscribe<T extends EventType>(type: T, handler: (event: Published<T>) => void): () => void {
    const listener = (message: unknown) => {
      if ((message as Published).app === this.app) handler(message as Published<T>)
    }
    channels[type].subscribe(listener)
    return () => channels[type].unsubscribe(listener)
  }

  /** Counts one customer request's outcome; the totals are published per interval. */
  countRequest(statusCode: number, cause: RefusalCause | null, aborted = false): void {
    this.#tally.count(statusCode, cause, aborted)
  }

  close(): void {
    this.#tally.stop()
  }
}

/**
 * Counts outcomes on the hot path (a few increments), publishes totals per interval. The timer
 * runs only while there are counts, so an idle or unobserved service schedules nothing.
 */
class RequestTally {
  #total = 0
  #byStatus: Record<string, number> = {}
  #byCause: Partial<Record<RefusalCause, number>> = {}
  #aborted = 0
  #timer: NodeJS.Timeout | undefined
  readonly #flush: (totals: RequestsEvent) => void

  constructor(flush: (totals: RequestsEvent) => void) {
    this.#flush = flush
  }

  count(statusCode: number, cause: RefusalCause | null, aborted: boolean): void {
    if (!channels.requests.hasSubscribers) return
    this.#total += 1
    this.#byStatus[statusCode] = (this.#byStatus[statusCode] ?? 0) + 1
    if (cause !== null) this.#byCause[cause] = (this.#byCause[cause] ?? 0) + 1
    if (aborted) this.#aborted += 1
    this.#timer ??= setTimeout(() => this.#publish(), REQUESTS_INTERVAL_MS).unref()
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #publish(): void {
    this.#timer = undefined
    const totals: RequestsEvent = {
      intervalMs: REQUESTS_INTERVAL_MS,
      total: this.#total,
      byStatus: this.#byStatus,
      byCause: this.#byCause,
      aborted: this.#aborted,
    }
    this.#total = 0
    this.#byStatus = {}
    this.#byCause = {}
    this.#aborted = 0
    this.#flush(totals)
  }
}
