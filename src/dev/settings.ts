import { InvalidArgumentError } from 'commander'
import { UsageError } from '../errors.js'
import { parseChoice, parseNonNegativeInteger, parsePort } from '../options.js'
import { DEFAULT_SETTINGS } from '../project/settings.js'

export const PROVIDER_MODES = ['ok', 'reject', 'never', 'flaky', 'bad-signature', 'wrong-key', 'slow-data'] as const
export type ProviderMode = (typeof PROVIDER_MODES)[number]

/** The flags of `gatekeep dev`, as commander parsed them. */
export interface DevFlags {
  port?: number
  providerPort?: number
  delay?: number
  restartDelay?: number
  mode?: ProviderMode
  ttl?: number
  watch: boolean
}

export interface DevSettings {
  port: number
  providerPort: number
  /** Before the provider calls back the first time. */
  delayMs: number
  /** Before it calls back every later time (a restarted service). */
  restartDelayMs: number
  mode: ProviderMode
  /** Lifetime of issued keys; 0: they never expire. */
  ttlS: number
  watch: boolean
}

type Env = Record<string, string | undefined>
type Parser<T> = (value: string) => T

/**
 * Settings, highest first: flags, the environment, package.json `"gatekeep"`, defaults. A bad
 * value anywhere is refused, naming where it came from, before anything starts.
 */
export function resolveDevSettings(flags: DevFlags, env: Env, config: Record<string, unknown>): DevSettings {
  const pick = <T>(flag: T | undefined, variable: string, key: string | null, parse: Parser<T>): T | undefined => {
    if (flag !== undefined) return flag
    const fromEnv = env[variable]
    if (fromEnv !== undefined && fromEnv !== '') return parseFrom(`${variable}=${fromEnv} (environment)`, fromEnv, parse)
    if (key !== null && config[key] !== undefined) {
      return parseFrom(`package.json "gatekeep".${key}`, String(config[key]), parse)
    }
    return undefined
  }
  const delayMs = pick(flags.delay, 'PROVIDER_DELAY_MS', 'delay', parseNonNegativeInteger) ?? DEFAULT_SETTINGS.delay
  const settings: DevSettings = {
    port: pick(flags.port, 'PORT', 'port', parsePort) ?? DEFAULT_SETTINGS.port,
    providerPort: pick(flags.providerPort, 'PROVIDER_PORT', 'providerPort', parsePort) ?? DEFAULT_SETTINGS.providerPort,
    delayMs,
    restartDelayMs: pick(flags.restartDelay, 'PROVIDER_RESTART_DELAY_MS', null, parseNonNegativeInteger) ?? delayMs,
    mode: pick(flags.mode, 'PROVIDER_MODE', null, parseChoice(PROVIDER_MODES)) ?? 'ok',
    ttlS: pick(flags.ttl, 'PROVIDER_TTL_S', null, parseNonNegativeInteger) ?? 0,
    watch: flags.watch,
  }
  if (settings.port === settings.providerPort) {
    throw new UsageError(`the service and the provider cannot share port ${settings.port}; pass --port or --provider-port.`)
  }
  return settings
}

function parseFrom<T>(source: string, value: string, parse: Parser<T>): T {
  try {
    return parse(value)
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(`${source}: ${error.message}`)
    throw error
  }
}
