import { UsageError } from '../errors.js'
import { parseChoice, parseNonNegativeInteger, parsePort } from '../options.js'
import { PROVIDER_MODES, type ProviderMode } from '../project/contract.js'
import {
  DEFAULT_SETTINGS,
  readSetting,
  SETTING_VARIABLES,
  STORES,
  type SettingSources,
  type Store,
} from '../project/settings.js'

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
  consolePort?: number
  /** False with --no-console. */
  console?: boolean
  traffic?: number
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
  /** Where the dev console listens; null: --no-console. */
  consolePort: number | null
  /** Customer requests per second that dev sends; 0: none. */
  trafficRps: number
}

const HIGHEST_PORT = 65535

/**
 * Settings, highest first: flags, the environment, `.env`, package.json `"gatekeep"`, defaults:
 * the environment and package.json read as `npm start` and `npm run provider` read them. A bad
 * value anywhere is refused, naming where it came from, before anything starts.
 */
export function resolveDevSettings(flags: DevFlags, sources: SettingSources): DevSettings {
  const pick = <T>(flag: T | undefined, flagName: string, variable: string | null, key: string | null, parse: (value: string) => T) =>
    flag !== undefined ? { value: flag, from: flagName } : readSetting(sources, variable, key, parse)
  const projectPort = (key: 'port' | 'providerPort', flag: number | undefined, flagName: string) =>
    pick(flag, flagName, SETTING_VARIABLES[key], key, parsePort) ?? { value: DEFAULT_SETTINGS[key], from: 'the default' }

  const port = projectPort('port', flags.port, '--port')
  const providerPort = projectPort('providerPort', flags.providerPort, '--provider-port')
  const delayMs = pick(flags.delay, '--delay', SETTING_VARIABLES.delay, 'delay', parseNonNegativeInteger)?.value ?? DEFAULT_SETTINGS.delay
  const settings: DevSettings = {
    port: port.value,
    providerPort: providerPort.value,
    delayMs,
    restartDelayMs: pick(flags.restartDelay, '--restart-delay', 'PROVIDER_RESTART_DELAY_MS', null, parseNonNegativeInteger)?.value ?? delayMs,
    mode: pick(flags.mode, '--mode', 'PROVIDER_MODE', null, parseChoice(PROVIDER_MODES))?.value ?? 'ok',
    ttlS: pick(flags.ttl, '--ttl', 'PROVIDER_TTL_S', null, parseNonNegativeInteger)?.value ?? 0,
    instances: flags.instances ?? 1,
    store: readSetting(sources, SETTING_VARIABLES.store, 'store', parseChoice(STORES))?.value ?? DEFAULT_SETTINGS.store,
    watch: flags.watch,
    consolePort: flags.console !== false ? (flags.consolePort ?? providerPort.value + 1) : null,
    trafficRps: flags.traffic ?? 0,
  }
  const { instances, store } = settings
  const lastPort = port.value + instances - 1
  if (instances > 1 && store !== 'redis') {
    throw new UsageError(
      `--instances ${instances} needs a shared store, but this project keeps its key in ${store} (package.json "gatekeep".store); use a project made with \`gatekeep init --store redis\`.`,
    )
  }
  if (lastPort > HIGHEST_PORT) {
    throw new UsageError(`--instances ${instances} from port ${port.value} (${port.from}) needs ports up to ${lastPort}, above ${HIGHEST_PORT}; pass a lower --port.`)
  }
  if (providerPort.value >= port.value && providerPort.value <= lastPort) {
    const services = instances === 1 ? 'the service' : `the services (ports ${port.value}-${lastPort})`
    throw new UsageError(
      `${services} and the provider cannot share port ${providerPort.value} (service: ${port.from}; provider: ${providerPort.from}); pass --port or --provider-port.`,
    )
  }
  const { consolePort } = settings
  if (consolePort !== null) {
    const from = flags.consolePort === undefined ? `the provider's port + 1` : '--console-port'
    if (consolePort > HIGHEST_PORT) {
      throw new UsageError(`the console's port would be ${consolePort} (the provider's port + 1), above ${HIGHEST_PORT}; pass --console-port or --no-console.`)
    }
    if (consolePort === providerPort.value || (consolePort >= port.value && consolePort <= lastPort)) {
      const other = consolePort === providerPort.value ? 'the provider' : 'the service'
      throw new UsageError(`the console and ${other} cannot share port ${consolePort} (console: ${from}); pass --console-port or --no-console.`)
    }
  }
  return settings
}
