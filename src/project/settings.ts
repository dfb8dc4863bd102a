// The settings a generated project keeps under "gatekeep" in its package.json, and how every
// entry point reads them. The template's src/config.ts reads them by the same rule for
// `npm start` and `npm run provider` (the CLI never imports template code at run time);
// test/project-settings.test.ts holds both to the same answers.
import { InvalidArgumentError } from 'commander'
import { UsageError } from '../errors.js'
import { PROJECT_DEFAULTS } from './contract.js'

export const STORES = ['memory', 'redis'] as const
export type Store = (typeof STORES)[number]

export interface ProjectSettings {
  port: number
  providerPort: number
  delay: number
  store: Store
}

export const DEFAULT_SETTINGS: ProjectSettings = { ...PROJECT_DEFAULTS, store: 'memory' }

/** The variable that overrides each package.json setting; the store has none (it is in the code). */
export const SETTING_VARIABLES: Readonly<Record<keyof ProjectSettings, string | null>> = {
  port: 'PORT',
  providerPort: 'PROVIDER_PORT',
  delay: 'PROVIDER_DELAY_MS',
  store: null,
}

export type Env = Record<string, string | undefined>

/** Everything a setting may come from, below the flags. */
export interface SettingSources {
  env: Env
  /** The project's `.env`; null when it has none. */
  dotEnv: Record<string, string> | null
  /** The `"gatekeep"` object of its package.json. */
  config: Record<string, unknown>
}

export interface FoundSetting<T> {
  value: T
  /** Where it came from, as a user would look for it: `PORT in .env`, `package.json "gatekeep".port`. */
  from: string
}

type Parser<T> = (value: string) => T

/**
 * A setting read as `gatekeep dev`, `npm start` and `npm run provider` all read it: the
 * environment, then `.env`, then package.json `"gatekeep"`; undefined when none holds it. A bad
 * value is refused, naming where it came from.
 */
export function readSetting<T>(
  { env, dotEnv, config }: SettingSources,
  variable: string | null,
  key: string | null,
  parse: Parser<T>,
): FoundSetting<T> | undefined {
  if (variable !== null) {
    // As process.loadEnvFile merges them for the service: a variable in the environment, even
    // empty, hides `.env`'s; an empty one counts as unset.
    const fromEnvironment = env[variable] !== undefined
    const raw = fromEnvironment ? env[variable] : dotEnv?.[variable]
    if (raw !== undefined && raw !== '') {
      const [where, place] = fromEnvironment ? ['environment', 'the environment'] : ['.env', '.env']
      return { value: parseFrom(`${variable}=${raw} (${where})`, raw, parse), from: `${variable} in ${place}` }
    }
  }
  if (key !== null && config[key] !== undefined) {
    const from = `package.json "gatekeep".${key}`
    return { value: parseFrom(from, String(config[key]), parse), from }
  }
  return undefined
}

function parseFrom<T>(source: string, value: string, parse: Parser<T>): T {
  try {
    return parse(value)
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(`${source}: ${error.message}`)
    throw error
  }
}
