// What gatekeep's commands and a generated project agree on: the project's layout and defaults,
// the mock provider's modes and routes, the metric names, the event vocabulary of the
// `gatekeep:*` channels, `.gatekeep/dev.json`, and the route dev adds to the service. The CLI
// never loads template code at run time, so these are its own copies; test/contract.test.ts
// holds them to the template's definitions. Imported by the runner inside every child that
// `gatekeep dev` starts: it must stay light (Node built-ins only).
import { readFileSync } from 'node:fs'
import path from 'node:path'

// ── The project ─────────────────────────────────────────────────────────────────────────────

/** The service's entry, run by `gatekeep dev` and compiled for `npm start`. */
export const SERVICE_ENTRY = 'src/server.ts'
/** The mock provider's entry (`npm run provider`). */
export const PROVIDER_ENTRY = 'src/provider/mock-server.ts'
/** Where the service's events are defined; a project without it predates the event channel. */
export const EVENTS_MODULE = 'src/events.ts'

/** The defaults of package.json "gatekeep", as the template's `src/config.ts` reads them. */
export const PROJECT_DEFAULTS = { port: 3000, providerPort: 4000, delay: 5000 } as const

export const PROVIDER_MODES = ['ok', 'reject', 'never', 'flaky', 'bad-signature', 'wrong-key', 'slow-data'] as const
export type ProviderMode = (typeof PROVIDER_MODES)[number]

/** The mock provider's own routes, which dev's `f` key, its console and the tests use (`mode` takes POST `{"mode"}`). */
export const PROVIDER_ROUTES = { stats: '/__provider/stats', callbackNow: '/__provider/callback-now', mode: '/__provider/mode' } as const

/** The service's metrics that gatekeep reads from `/metrics`. */
export const METRICS = { clientAborts: 'gatekeep_client_aborts_total' } as const

// ── The route `gatekeep dev` adds to the service (src/dev/service-plugin.ts) ───────────────

export const DEV_ROUTES = { aborts: '/__gatekeep/aborts' } as const

/** The service's word on one request id. */
export interface AbortAnswer {
  requestId: string
  detected: boolean
  /** Epoch ms when the service saw the response close early; null when not detected. */
  detectedAt: number | null
  /** null: no downstream call was in flight (or not detected); false: one was, not (yet) seen cancelled. */
  cancelled: boolean | null
}

/** `GET /__gatekeep/aborts?ids=a,b`, and the `aborts` command: one answer per id, in order. */
export interface AbortsAnswer {
  results: AbortAnswer[]
}

// ── Events: what the service publishes on `gatekeep:<type>` (the template's src/events.ts) ──

export const CHANNEL_PREFIX = 'gatekeep:'

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
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const GATE_STATES = [
  'idle',
  'claiming',
  'authorizing',
  'awaiting-webhook',
  'backing-off',
  'following',
  'waiting-for-store',
  'open',
  'closed',
  'exhausted',
] as const
export type GateStateName = (typeof GATE_STATES)[number]
export type RefreshStateName = Exclude<GateStateName, 'idle' | 'open' | 'closed'>
const REFRESH_STATES = GATE_STATES.filter((state) => state !== 'idle' && state !== 'open' && state !== 'closed')

export const CLOSED_REASONS = ['gate-pending', 'gate-failed', 'key-expired', 'key-rejected', 'store-unavailable'] as const
export type ClosedReason = (typeof CLOSED_REASONS)[number]

export const HANDSHAKE_ERRORS = ['provider-error', 'timeout', 'key-rejected'] as const
export type HandshakeError = (typeof HANDSHAKE_ERRORS)[number]

export const HANDSHAKE_OUTCOMES = ['started', 'completed', 'failed', 'exhausted'] as const
export const WEBHOOK_OUTCOMES = ['received', 'refused', 'duplicate', 'stale', 'early', 'applied', 'deferred'] as const
export const WEBHOOK_REFUSALS = ['unsigned', 'bad-signature', 'bad-body'] as const
export const REFUSAL_CAUSES = ['gate', 'pressure', 'shutdown', 'breaker', 'limiter'] as const
export const SHUTDOWN_PHASES = ['draining', 'closing'] as const
export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const

export interface GateEvent {
  state: GateStateName
  from: GateStateName
  reason?: ClosedReason
  refresh?: RefreshStateName
  etaMs?: number
  requestId?: string
  elapsedMs?: number
  attempt?: number
  lastError?: HandshakeError
}

export interface HandshakeEvent {
  outcome: (typeof HANDSHAKE_OUTCOMES)[number]
  attempt: number
  requestId?: string
  expiresAt?: number | null
  error?: HandshakeError
  message?: string
  retryInMs?: number
  refreshed?: boolean
}

export interface WebhookEvent {
  outcome: (typeof WEBHOOK_OUTCOMES)[number]
  requestId?: string
  reqId: string
  refusal?: (typeof WEBHOOK_REFUSALS)[number]
  reason?: string
}

export interface RequestsEvent {
  intervalMs: number
  total: number
  byStatus: Record<string, number>
  byCause: Partial<Record<(typeof REFUSAL_CAUSES)[number], number>>
  aborted: number
}

export interface AbortEvent {
  requestId: string
  /** Epoch ms when the response closed unfinished. */
  detectedAt: number
  detectedAfterMs: number
  cancelled: boolean | null
}

/** Every event's own fields, by type. */
export interface ServiceEvents {
  listening: { url: string }
  'listen-failed': { code: string | null; message: string }
  gate: GateEvent
  handshake: HandshakeEvent
  webhook: WebhookEvent
  requests: RequestsEvent
  abort: AbortEvent
  store: { up: boolean }
  shutdown: { phase: (typeof SHUTDOWN_PHASES)[number]; signal: string | null; drainMs?: number }
  breaker: { state: (typeof BREAKER_STATES)[number] }
}

/**
 * An event as published: its fields, its `type`, and `app`, which tells apart several apps in
 * one process (a service run by dev has one). The runner reports a process that publishes no
 * events of its own (the mock provider) as app 0.
 */
export type ServiceEvent<T extends EventType = EventType> = { [K in T]: { type: K; app: number } & ServiceEvents[K] }[T]

type Check = (value: unknown) => boolean

const isString: Check = (value) => typeof value === 'string'
const isNumber: Check = (value) => typeof value === 'number' && Number.isFinite(value)
const isBoolean: Check = (value) => typeof value === 'boolean'
const orNull = (check: Check): Check => (value) => value === null || check(value)
const oneOf = (values: readonly string[]): Check => (value) => typeof value === 'string' && values.includes(value)
const isCounts: Check = (value) =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(isNumber)

/** Each type's fields: required ones, then optional ones (absent, or of their type). */
const EVENT_FIELDS: { [T in EventType]: [required: Record<string, Check>, optional?: Record<string, Check>] } = {
  listening: [{ url: isString }],
  'listen-failed': [{ code: orNull(isString), message: isString }],
  gate: [
    { state: oneOf(GATE_STATES), from: oneOf(GATE_STATES) },
    {
      reason: oneOf(CLOSED_REASONS),
      refresh: oneOf(REFRESH_STATES),
      etaMs: isNumber,
      requestId: isString,
      elapsedMs: isNumber,
      attempt: isNumber,
      lastError: oneOf(HANDSHAKE_ERRORS),
    },
  ],
  handshake: [
    { outcome: oneOf(HANDSHAKE_OUTCOMES), attempt: isNumber },
    {
      requestId: isString,
      expiresAt: orNull(isNumber),
      error: oneOf(HANDSHAKE_ERRORS),
      message: isString,
      retryInMs: isNumber,
      refreshed: isBoolean,
    },
  ],
  webhook: [{ outcome: oneOf(WEBHOOK_OUTCOMES), reqId: isString }, { requestId: isString, refusal: oneOf(WEBHOOK_REFUSALS), reason: isString }],
  requests: [
    { intervalMs: isNumber, total: isNumber, byStatus: isCounts, aborted: isNumber, byCause: isCounts },
  ],
  abort: [{ requestId: isString, detectedAt: isNumber, detectedAfterMs: isNumber, cancelled: orNull(isBoolean) }],
  store: [{ up: isBoolean }],
  shutdown: [{ phase: oneOf(SHUTDOWN_PHASES), signal: orNull(isString) }, { drainMs: isNumber }],
  breaker: [{ state: oneOf(BREAKER_STATES) }],
}

/**
 * The event `message` is, when it matches the vocabulary; null otherwise. Fields beyond the
 * vocabulary are allowed: a newer service may add some.
 */
export function parseServiceEvent(message: unknown): ServiceEvent | null {
  if (typeof message !== 'object' || message === null) return null
  const { type, app } = message as { type?: unknown; app?: unknown }
  if (!oneOf(EVENT_TYPES)(type) || !Number.isInteger(app)) return null
  const fields = message as Record<string, unknown>
  const [required, optional = {}] = EVENT_FIELDS[type as EventType]
  for (const [name, check] of Object.entries(required)) if (!check(fields[name])) return null
  for (const [name, check] of Object.entries(optional)) if (fields[name] !== undefined && !check(fields[name])) return null
  return message as ServiceEvent
}

// ── .gatekeep/dev.json: written by src/dev/state-file.ts, read through readDevState ─────────

/** While `gatekeep dev` runs: where it listens, for other commands. */
export interface DevState {
  /** dev itself. */
  pid: number
  /** The services listening now, with the pid of the process that listens. */
  services: { url: string; pid: number }[]
  provider: { url: string; pid: number } | null
  /**
   * The dev console (src/console/) and its session token, which `gatekeep trigger` sends; absent
   * when dev runs with --no-console. The token is why the file is written mode 600.
   */
  console?: { url: string; token: string }
}

export function devStatePath(root: string): string {
  return path.join(root, '.gatekeep', 'dev.json')
}

export function serializeDevState(state: DevState): string {
  return `${JSON.stringify(state, null, 2)}\n`
}

const isPid: Check = (value) => Number.isInteger(value) && (value as number) > 0
const isListener: Check = (value) =>
  typeof value === 'object' && value !== null && isString((value as { url?: unknown }).url) && isPid((value as { pid?: unknown }).pid)

const isConsole: Check = (value) =>
  typeof value === 'object' &&
  value !== null &&
  isString((value as { url?: unknown }).url) &&
  isString((value as { token?: unknown }).token)

/** The session in `file`; null when it is absent, unreadable or not a session's (half written by hand, say). */
export function readDevState(file: string): DevState | null {
  let state: Partial<Record<keyof DevState, unknown>> | null
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as typeof state
  } catch {
    return null
  }
  if (typeof state !== 'object' || state === null || !isPid(state.pid)) return null
  if (!Array.isArray(state.services) || !state.services.every(isListener)) return null
  if (state.provider !== null && !isListener(state.provider)) return null
  if (state.console !== undefined && !isConsole(state.console)) return null
  return state as DevState
}

/** Whether the process `pid` runs (as any user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
