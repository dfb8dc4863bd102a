import { colors } from '../ui.js'
import type { LogRecord, LogView } from './log-view.js'

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/**
 * gatekeep's own account of one service instance's gate, read from its log events: pending with
 * the time left, the webhook, open after how long, closed and why.
 */
export class Timeline {
  readonly #view: LogView
  /** Which instance's gate this tells, among several; null when dev runs one. */
  readonly #instance: string | null
  /** A line a second while the gate is pending; for a person watching, so on a TTY only. */
  readonly #countdown: boolean
  #timer: NodeJS.Timeout | undefined

  constructor(view: LogView, { countdown, instance }: { countdown: boolean; instance: string | null }) {
    this.#view = view
    this.#countdown = countdown
    this.#instance = instance
  }

  observe(record: LogRecord): void {
    switch (record.event) {
      case 'gate-pending': {
        const etaMs = Number(record.etaMs)
        this.#tell(
          colors.yellow(`gate pending: customer routes answer 503 until the provider calls back, in ${formatSeconds(etaMs)}`),
        )
        this.#startCountdown(etaMs)
        break
      }
      case 'webhook-received':
        this.#tell('webhook received')
        break
      case 'webhook-ignored':
        this.#tell('webhook for an earlier handshake: ignored')
        break
      case 'gate-open':
        this.stop()
        this.#tell(colors.green(`gate open after ${formatSeconds(Number(record.elapsedMs))}: customer routes are served`))
        break
      case 'gate-closed':
        this.#tell(colors.yellow(`gate closed: ${String(record.reason)}`))
        break
      case 'handshake-failed':
        this.stop()
        this.#tell(
          colors.red(`handshake failed (${String(record.reason)}); retrying in ${formatSeconds(Number(record.retryInMs))}`),
        )
        break
      case 'gate-exhausted':
        this.stop()
        this.#tell(colors.red(`the service gave up after ${String(record.attempts)} failed handshakes`))
        break
      case 'key-refreshed':
        this.#tell('key refreshed before it expired')
        break
    }
  }

  /** The service stopped, or the gate left the pending state. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tell(text: string): void {
    this.#view.gatekeep(this.#instance === null ? text : `${this.#instance}: ${text}`)
  }

  #startCountdown(etaMs: number): void {
    this.stop()
    if (!this.#countdown) return
    const due = Date.now() + etaMs
    this.#timer = setInterval(() => {
      const leftS = Math.round((due - Date.now()) / 1000)
      if (leftS <= 0) this.stop()
      else this.#tell(colors.dim(`gate pending: ${leftS} s left`))
    }, 1000)
  }
}
