import { prettyFactory } from 'pino-pretty'
import { colors } from '../ui.js'

/** `service` when dev runs one instance; `service#0`, `service#1`... when it runs several. */
export type ServiceTag = 'service' | `service#${number}`
export type Source = 'gatekeep' | 'provider' | ServiceTag

export function serviceTags(instances: number): ServiceTag[] {
  return instances === 1 ? ['service'] : Array.from({ length: instances }, (_, index) => `service#${index}` as const)
}

function colorTag(source: Source, text: string): string {
  if (source === 'gatekeep') return colors.bold(colors.cyan(text))
  return source === 'provider' ? colors.magenta(text) : colors.green(text)
}

/** The line as a pino record, for pretty-printing only: nothing dev decides depends on it. */
function pinoRecord(line: string): object | null {
  if (!line.startsWith('{')) return null
  try {
    const value = JSON.parse(line) as { level?: unknown; time?: unknown } | null
    return typeof value?.level === 'number' && typeof value.time === 'number' ? value : null
  } catch {
    return null
  }
}

/**
 * dev's output: every line tagged by its source, the children's pino JSON pretty-printed. The
 * children log at the project's own LOG_LEVEL: every line they write is shown.
 */
export class LogView {
  /** Tags are padded to the longest, so that every line's text starts in the same column. */
  readonly #tagWidth: number
  readonly #pretty = prettyFactory({
    colorize: colors.isColorSupported,
    ignore: 'pid,hostname',
    translateTime: 'HH:MM:ss.l',
    singleLine: true,
  })
  readonly #write: (text: string) => void

  /** `write` gets each line, ended; the terminal unless told otherwise. */
  constructor(serviceTagsShown: readonly ServiceTag[], write: (text: string) => void = (text) => process.stdout.write(text)) {
    this.#write = write
    this.#tagWidth = Math.max(...['gatekeep', 'provider', ...serviceTagsShown].map((tag) => tag.length))
  }

  gatekeep(text: string): void {
    this.#line('gatekeep', text)
  }

  warn(text: string): void {
    this.#line('gatekeep', colors.yellow(text))
  }

  /** A line a child wrote: pretty when it is pino's, as written otherwise. */
  child(source: Source, line: string): void {
    const record = pinoRecord(line)
    this.#line(source, record === null ? line : this.#pretty(record).trimEnd())
  }

  #line(source: Source, text: string): void {
    this.#write(`${colorTag(source, source.padEnd(this.#tagWidth))} ${colors.dim('│')} ${text}\n`)
  }
}
