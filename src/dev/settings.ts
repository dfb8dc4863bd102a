import { InvalidArgumentError } from 'commander'
import { UsageError } from '../errors.js'
import { parseChoice, parseNonNegativeInteger, parsePort } from '../options.js'
import { DEFAULT_SETTINGS, STORES, type Store } from '../project/settings.js'

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
  instances?: number
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
  /** Service instances, on ports `port .. port + instances - 1`. */
  instances: number
  /** Where the service keeps its key: only a shared one lets several instances share a handshake. */
  store: Store
  watch: boolean
}

const HIGHEST_PORT = 65535

type Env = Record<string, string | undefined>
type Parser<T> = (value: string) => T

/**
 * Settings, highest first: flags, the environment, package.json `"gatekeep"`, defaults. A bad
 * value anywhere is refused, naming where it came from, before anything starts.
 */
export function resolveDevSettings(flags: DevFlags, env: Env, config: Record<string, unknown>): DevSettings {
  const pick = <T>(flag: T | undefined, variable: string | null, key: string | null, parse: Parser<T>): T | undefined => {
    if (flag !== undefined) return flag
    const fromEnv = variable === null ? undefined : env[variable]
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
    instances: flags.instances ?? 1,
    store: pick(undefined, null, 'store', parseChoice(STORES)) ?? DEFAULT_SETTINGS.store,
    watch: flags.watch,
  }
  const { port, providerPort, instances, store } = settings
  const lastPort = port + instances - 1
  if (instances > 1 && store !== 'redis') {
    throw new UsageError(
      `--instances ${instances} needs a shared store, but this project keeps its key in ${store} (package.json "gatekeep".store); use a project made with \`gatekeep init --store redis\`.`,
    )
  }
  if (lastPort > HIGHEST_PORT) {
    throw new UsageError(`--instances ${instances} from port ${port} needs ports up to ${lastPort}, above ${HIGHEST_PORT}; pass a lower --port.`)
  }
  if (providerPort >= port && providerPort <= lastPort) {
    const services = instances === 1 ? 'the service' : `the services (ports ${port}-${lastPort})`
    throw new UsageError(`${services} and the provider cannot share port ${providerPort}; pass --port or --provider-port.`)
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
