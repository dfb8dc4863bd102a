import { prettyFactory } from 'pino-pretty'
import { colors } from '../ui.js'

/** `service` when dev runs one instance; `service#0`, `service#1`... when it runs several. */
export type ServiceTag = 'service' | `service#${number}`
export type Source = 'gatekeep' | 'provider' | ServiceTag

export function serviceTags(instances: number): ServiceTag[] {
  return instances === 1 ? ['service'] : Array.from({ length: instances }, (_, index) => `service#${index}` as const)
}

/** A pino line as the children write them. */
export interface LogRecord {
  level: number
  time: number
  msg?: string
  event?: string
  [field: string]: unknown
}

/** pino's numeric levels, by name, for LOG_LEVEL. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const
export type LogLevel = keyof typeof LOG_LEVELS

function colorTag(source: Source, text: string): string {
  if (source === 'gatekeep') return colors.bold(colors.cyan(text))
  return source === 'provider' ? colors.magenta(text) : colors.green(text)
}

export function parseLogRecord(line: string): LogRecord | null {
  if (!line.startsWith('{')) return null
  try {
    const value = JSON.parse(line) as Partial<LogRecord> | null
    return typeof value?.level === 'number' && typeof value.time === 'number' ? (value as LogRecord) : null
  } catch {
    return null
  }
}

/**
 * dev's output: every line tagged by its source, the children's pino JSON pretty-printed, and
 * only lines at the user's LOG_LEVEL or above (the children log at info at least, for the timeline).
 */
export class LogView {
  readonly #minLevel: number
  /** Tags are padded to the longest, so that every line's text starts in the same column. */
  readonly #tagWidth: number
  readonly #pretty = prettyFactory({
    colorize: colors.isColorSupported,
    ignore: 'pid,hostname',
    translateTime: 'HH:MM:ss.l',
    singleLine: true,
  })

  constructor(minLevel: number, serviceTagsShown: readonly ServiceTag[]) {
    this.#minLevel = minLevel
    this.#tagWidth = Math.max(...['gatekeep', 'provider', ...serviceTagsShown].map((tag) => tag.length))
  }

  gatekeep(text: string): void {
    this.#write('gatekeep', text)
  }

  warn(text: string): void {
    this.#write('gatekeep', colors.yellow(text))
  }

  /** A line a child wrote: pretty when it is pino's, as written otherwise. */
  child(source: Source, line: string, record: LogRecord | null): void {
    if (record === null) {
      this.#write(source, line)
    } else if (record.level >= this.#minLevel) {
      this.#write(source, this.#pretty(record).trimEnd())
    }
  }

  #write(source: Source, text: string): void {
    process.stdout.write(`${colorTag(source, source.padEnd(this.#tagWidth))} ${colors.dim('│')} ${text}\n`)
  }
}
