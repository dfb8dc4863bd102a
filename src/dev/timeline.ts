import type { GateEvent, HandshakeEvent, ServiceEvent, WebhookEvent } from '../project/contract.js'
import { colors } from '../ui.js'
import type { LogView } from './log-view.js'

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/**
 * gatekeep's own account of one service instance's gate, told from the events it publishes:
 * pending with the time left, the webhook, open after how long, closed and why.
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

  observe(event: ServiceEvent): void {
    switch (event.type) {
      case 'gate':
        this.#gate(event)
        break
      case 'handshake':
        this.#handshake(event)
        break
      case 'webhook':
        this.#webhook(event)
        break
      case 'store':
        this.#tell(event.up ? 'store available again' : colors.yellow('store unavailable: the service retries in the background'))
        break
      default:
        // listening and listen-failed are the session's; requests, aborts and the shutdown's
        // phases are too many, or too soon followed by the exit, to tell line by line.
        break
    }
  }

  #gate({ state, from, reason, etaMs, elapsedMs }: GateEvent): void {
    if (from === 'open' && state !== 'open') this.#tell(colors.yellow(`gate closed: ${reason ?? state}`))
    if (state === 'awaiting-webhook') {
      const waitMs = etaMs ?? 0
      this.#tell(colors.yellow(`gate pending: customer routes answer 503 until the provider calls back, in ${formatSeconds(waitMs)}`))
      this.#startCountdown(waitMs)
    } else if (state === 'open' && from !== 'open') {
      this.stop()
      this.#tell(colors.green(`gate open after ${formatSeconds(elapsedMs ?? 0)}: customer routes are served`))
    }
  }

  #handshake({ outcome, attempt, error, message, retryInMs, refreshed }: HandshakeEvent): void {
    if (outcome === 'failed') {
      this.stop()
      this.#tell(colors.red(`handshake failed (${message ?? error ?? 'no reason given'}); retrying in ${formatSeconds(retryInMs ?? 0)}`))
    } else if (outcome === 'exhausted') {
      this.stop()
      this.#tell(colors.red(`the service gave up after ${attempt} failed handshakes`))
    } else if (outcome === 'completed' && refreshed) {
      this.#tell('key refreshed before it expired')
    }
  }

  #webhook({ outcome, refusal, reason }: WebhookEvent): void {
    if (outcome === 'received') this.#tell('webhook received')
    else if (outcome === 'stale') this.#tell('webhook for an earlier handshake: ignored')
    else if (outcome === 'deferred') this.#tell(colors.yellow('webhook deferred: the store is unavailable; the provider delivers it again'))
    else if (outcome === 'refused' && refusal === 'bad-signature') {
      this.#tell(colors.red(`webhook refused: bad signature (${reason ?? 'no reason given'}); does the provider sign with this WEBHOOK_SECRET?`))
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
