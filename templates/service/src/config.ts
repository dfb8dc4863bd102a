import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Webhook } from 'standardwebhooks'

export interface GateConfig {
  /** How long to wait for the provider's webhook before a handshake counts as failed. */
  handshakeTimeoutMs: number
  backoffBaseMs: number
  backoffMaxMs: number
  /** Failed handshakes in a row before the service gives up and exits; 0 retries forever. */
  maxAttempts: number
  /** Fraction of a key's lifetime after which a new handshake starts while the gate stays open. */
  refreshAt: number
}

/** Thresholds for @fastify/under-pressure; 0 turns a check off. */
export interface PressureConfig {
  maxEventLoopDelayMs: number
  maxEventLoopUtilization: number
  maxHeapUsedBytes: number
  maxRssBytes: number
}

/** The circuit breaker around provider data calls (src/provider/breaker.ts). */
export interface BreakerConfig {
  /** Failed calls, in percent of the calls in its rolling window, above which it opens; 100 never opens. */
  errorThresholdPercent: number
  /** Calls in the window before it may open at all, so that a few failures never trip it. */
  volumeThreshold: number
  /** How long it stays open before it lets one trial call through (half-open). */
  resetMs: number
}

/** Per-client rate limits (@fastify/rate-limit); off with RATE_LIMIT=off. */
export interface RateLimitConfig {
  /** Requests per client per window on the customer routes. */
  max: number
  windowMs: number
  /** Failed webhook signature checks per client per minute; past them its webhooks get 429. */
  webhookFailures: number
}

export interface Config {
  port: number
  host: string
  providerUrl: string
  /** Where the provider reaches this service; null: the address it listens on. */
  publicUrl: string | null
  webhookSecret: string
  logLevel: string
  providerTimeoutMs: number
  shutdownDrainMs: number
  gate: GateConfig
  pressure: PressureConfig
  breaker: BreakerConfig
  /** OTEL_EXPORTER_OTLP_ENDPOINT is set: traces are exported there (src/tracing.ts). */
  tracing: boolean
  /**
   * The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (TRUST_PROXY); empty:
   * none, and a client is the address its connection comes from.
   */
  trustProxy: string[]
  /** null with RATE_LIMIT=off. */
  rateLimit: RateLimitConfig | null
  /** Used by the Redis store only. */
  redisUrl: string
  /** Prefix of the Redis keys, so several services can share one Redis. */
  namespace: string
}

/** A bad or missing variable; the message names it and is safe to print. */
export class ConfigError extends Error {}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

// The variables of process.env that `.env` supplied, so that an error about one names the file.
// Like process.env itself, one per process.
const fromDotEnv = new Set<string>()

/** Loads `.env` from the working directory when present; variables already set win. */
export function loadDotEnv(path = '.env'): void {
  if (!existsSync(path)) return
  const before = new Set(Object.keys(process.env))
  process.loadEnvFile(path)
  for (const name of Object.keys(process.env)) if (!before.has(name)) fromDotEnv.add(name)
}

/** A variable as an error names it: with `.env` when its value came from there. */
function described(name: string): string {
  return fromDotEnv.has(name) ? `${name} (from .env)` : name
}

function parseInteger(what: string, raw: string, min: number, max: number): number {
  const value = Number(raw)
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`
    throw new ConfigError(`${what} must be a whole number ${range}; got "${raw}".`)
  }
  return value
}

export function readInteger(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  return parseInteger(described(name), raw, min, max)
}

/** The project as its package.json describes it. */
export interface Project {
  name: string
  /** Its `"gatekeep"` object: the ports and the mock provider's delay, shared by every entry. */
  settings: Record<string, unknown>
}

export function readProject(): Project {
  // src/config.ts and dist/config.js both sit one level below the project's package.json.
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    name?: string
    gatekeep?: Record<string, unknown>
  }
  return { name: manifest.name ?? 'gatekeep-service', settings: manifest.gatekeep ?? {} }
}

// The settings package.json "gatekeep" holds, the variable that overrides each, and the default
// when neither is set. `gatekeep dev` reads them by the same rule.
const PROJECT_SETTINGS = {
  port: { variable: 'PORT', fallback: 3000, max: 65535 },
  providerPort: { variable: 'PROVIDER_PORT', fallback: 4000, max: 65535 },
  delay: { variable: 'PROVIDER_DELAY_MS', fallback: 5000, max: Number.MAX_SAFE_INTEGER },
} as const

export type ProjectSetting = keyof typeof PROJECT_SETTINGS

/**
 * A setting of the project as `npm start`, `npm run provider` and `gatekeep dev` all read it:
 * the environment (`.env` included, the environment winning), else package.json "gatekeep",
 * else the default.
 */
export function readProjectSetting(env: Env, project: Project, key: ProjectSetting): number {
  const { variable, fallback, max } = PROJECT_SETTINGS[key]
  const raw = env[variable]
  if (raw !== undefined && raw !== '') return parseInteger(described(variable), raw, 0, max)
  const value = project.settings[key]
  return value === undefined ? fallback : parseInteger(`package.json "gatekeep".${key}`, String(value), 0, max)
}

export function readUrl(env: Env, name: string, fallback: string): string
export function readUrl(env: Env, name: string, fallback: null): string | null
export function readUrl(env: Env, name: string, fallback: string | null): string | null {
  const raw = env[name] || fallback
  if (raw === null) return null
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${described(name)} must be an http(s) URL; got "${raw}".`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${described(name)} must be an http(s) URL; got "${raw}".`)
  }
  return raw.replace(/\/+$/, '')
}

export function readChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(`${described(name)} must be one of ${choices.join(', ')}; got "${raw}".`)
  }
  return raw as T
}

export function readWebhookSecret(env: Env): string {
  const secret = env.WEBHOOK_SECRET
  if (!secret) {
    throw new ConfigError('WEBHOOK_SECRET is not set; copy it from .env.example or run `gatekeep dev` once to create .env.')
  }
  // Never echo the value: it is a secret even when malformed.
  const malformed = new ConfigError(`${described('WEBHOOK_SECRET')} must be a Standard Webhooks secret: "whsec_" followed by base64.`)
  if (!secret.startsWith('whsec_')) throw malformed
  try {
    new Webhook(secret)
  } catch {
    throw malformed
  }
  return secret
}

function readFraction(env: Env, name: string, fallback: number, { allowZero = false } = {}): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero) || value >= 1) {
    const range = allowZero ? 'from 0 to 1 (1 excluded)' : 'between 0 and 1 (both excluded)'
    throw new ConfigError(`${described(name)} must be a number ${range}; got "${raw}".`)
  }
  return value
}

function readRedisUrl(env: Env): string {
  const raw = env.REDIS_URL || 'redis://127.0.0.1:6379'
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : ''
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new ConfigError(`${described('REDIS_URL')} must be a redis:// or rediss:// URL; got "${raw.replace(/\/\/[^@/]*@/, '//***@')}".`)
  }
  return raw
}

// proxy-addr's names for the private ranges, as Fastify's trustProxy takes them.
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal']

function isProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

/**
 * Named proxies only: `true` (every hop) would let any client pick its own address by sending
 * X-Forwarded-For, and with it its own rate limit.
 */
function readTrustProxy(env: Env): string[] {
  const raw = env.TRUST_PROXY
  if (raw === undefined || raw.trim() === '') return []
  const entries = raw.split(',').map((entry) => entry.trim())
  const bad = entries.find((entry) => !isProxyEntry(entry))
  if (bad !== undefined) {
    throw new ConfigError(
      `${described('TRUST_PROXY')} must list the proxies to trust, comma-separated: addresses, CIDR ranges, loopback, linklocal or uniquelocal; got "${bad}".`,
    )
  }
  return entries
}

function readRateLimit(env: Env): RateLimitConfig | null {
  if (readChoice(env, 'RATE_LIMIT', ['on', 'off'], 'on') === 'off') return null
  return {
    // @fastify/rate-limit's own defaults for the customer routes.
    max: readInteger(env, 'RATE_LIMIT_MAX', 1000, 1),
    windowMs: readInteger(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1),
    webhookFailures: readInteger(env, 'RATE_LIMIT_WEBHOOK_FAILURES', 30, 1),
  }
}

export function loadConfig(env: Env = process.env, project: Project = readProject()): Config {
  const port = readProjectSetting(env, project, 'port')
  const backoffBaseMs = readInteger(env, 'GATE_BACKOFF_BASE_MS', 500, 1)
  const backoffMaxMs = readInteger(env, 'GATE_BACKOFF_MAX_MS', 30_000, 1)
  if (backoffMaxMs < backoffBaseMs) {
    throw new ConfigError(`GATE_BACKOFF_MAX_MS (${backoffMaxMs}) must not be below GATE_BACKOFF_BASE_MS (${backoffBaseMs}).`)
  }
  return {
    port,
    host: env.HOST || '127.0.0.1',
    // Unset: the mock provider, on the port `npm run provider` listens on.
    providerUrl: readUrl(env, 'PROVIDER_URL', null) ?? `http://127.0.0.1:${readProjectSetting(env, project, 'providerPort')}`,
    publicUrl: readUrl(env, 'PUBLIC_URL', null),
    webhookSecret: readWebhookSecret(env),
    logLevel: readChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    providerTimeoutMs: readInteger(env, 'PROVIDER_TIMEOUT_MS', 5000, 1),
    shutdownDrainMs: readInteger(env, 'SHUTDOWN_DRAIN_MS', 0, 0),
    gate: {
      handshakeTimeoutMs: readInteger(env, 'GATE_HANDSHAKE_TIMEOUT_MS', 30_000, 1),
      backoffBaseMs,
      backoffMaxMs,
      maxAttempts: readInteger(env, 'GATE_MAX_ATTEMPTS', 0, 0),
      refreshAt: readFraction(env, 'GATE_REFRESH_AT', 0.8),
    },
    pressure: {
      maxEventLoopDelayMs: readInteger(env, 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS', 1000, 0),
      maxEventLoopUtilization: readFraction(env, 'PRESSURE_MAX_EVENT_LOOP_UTILIZATION', 0.98, { allowZero: true }),
      maxHeapUsedBytes: readInteger(env, 'PRESSURE_MAX_HEAP_USED_BYTES', 0, 0),
      maxRssBytes: readInteger(env, 'PRESSURE_MAX_RSS_BYTES', 0, 0),
    },
    breaker: {
      errorThresholdPercent: readInteger(env, 'BREAKER_ERROR_THRESHOLD_PERCENT', 50, 1, 100),
      volumeThreshold: readInteger(env, 'BREAKER_VOLUME_THRESHOLD', 10, 0),
      resetMs: readInteger(env, 'BREAKER_RESET_MS', 10_000, 1),
    },
    // Only validated here: the OpenTelemetry SDK reads its OTEL_* variables itself.
    tracing: readUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', null) !== null,
    trustProxy: readTrustProxy(env),
    rateLimit: readRateLimit(env),
    redisUrl: readRedisUrl(env),
    namespace: env.GATE_NAMESPACE || project.name,
  }
}
