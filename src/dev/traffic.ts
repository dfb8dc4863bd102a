// Customer traffic in dev (`--traffic <rps>`, the console's "Send traffic"): `GET /v1/data` at a
// rate, round-robin over the instances, never retried, so that what the developer sees is what
// a customer would get: 503 with Retry-After while the gate is closed, 200 once it is open.
import { request } from 'node:http'

/** The template's customer route. */
export const CUSTOMER_PATH = '/v1/data'

/** Longer than any answer the service gives on purpose (its own downstream timeout is shorter). */
const REQUEST_TIMEOUT_MS = 15_000
/** Outcomes are told per window of this long: "×N/s" is per second. */
const WINDOW_MS = 1000

export interface TrafficOptions {
  /** The instances' base URLs now (instances come and go across restarts). */
  targets: () => readonly string[]
  /** One line per change of outcome, e.g. `customers: 503 ×5/s (Retry-After 3 s)`. */
  tell: (line: string) => void
}

/** One window's outcomes: by status (or `no answer`), and the last Retry-After seen on a 503. */
interface Window {
  counts: Map<string, number>
  retryAfter: string | null
}

const NO_ANSWER = 'no answer'

export class Traffic {
  readonly #options: TrafficOptions
  readonly #inFlight = new Set<() => void>()
  #rps = 0
  #next = 0
  #sender: NodeJS.Timeout | null = null
  #reporter: NodeJS.Timeout | null = null
  #window: Window = { counts: new Map(), retryAfter: null }
  /** The statuses of the last window told: a new line only when they change. */
  #told = ''

  constructor(options: TrafficOptions) {
    this.#options = options
  }

  get rps(): number {
    return this.#rps
  }

  /** 0 stops sending (requests in flight finish and are counted). */
  setRate(rps: number): void {
    this.#rps = rps
    if (this.#sender !== null) clearInterval(this.#sender)
    this.#sender = null
    if (rps > 0) {
      this.#sender = setInterval(() => this.#send(), 1000 / rps)
      this.#reporter ??= setInterval(() => this.#report(), WINDOW_MS)
    } else if (this.#told !== '') {
      this.#options.tell('customers: traffic stopped')
      this.#told = ''
    }
  }

  /** Stops sending and abandons the requests in flight. */
  close(): void {
    if (this.#sender !== null) clearInterval(this.#sender)
    if (this.#reporter !== null) clearInterval(this.#reporter)
    this.#sender = this.#reporter = null
    this.#rps = 0
    for (const abandon of this.#inFlight) abandon()
  }

  #send(): void {
    const targets = this.#options.targets()
    // Before the first instance listens, and while all restart: nobody to send to yet.
    if (targets.length === 0) return
    const base = targets[this.#next++ % targets.length] as string
    const outgoing = request(new URL(CUSTOMER_PATH, base), { agent: false, headers: { accept: 'application/json' } }, (response) => {
      const status = String(response.statusCode ?? 0)
      const retryAfter = response.headers['retry-after']
      response.resume()
      response.on('end', () => {
        this.#inFlight.delete(abandon)
        this.#count(status, status === '503' && typeof retryAfter === 'string' ? retryAfter : null)
      })
    })
    const abandon = () => outgoing.destroy()
    this.#inFlight.add(abandon)
    outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error('timeout')))
    outgoing.on('error', () => {
      if (!this.#inFlight.delete(abandon)) return // Abandoned by close(): nobody is told.
      this.#count(NO_ANSWER, null)
    })
    outgoing.end()
  }

  #count(status: string, retryAfter: string | null): void {
    this.#window.counts.set(status, (this.#window.counts.get(status) ?? 0) + 1)
    if (retryAfter !== null) this.#window.retryAfter = retryAfter
  }

  #report(): void {
    const { counts, retryAfter } = this.#window
    this.#window = { counts: new Map(), retryAfter: null }
    if (counts.size === 0) {
      // Nothing sent, nothing outstanding: the traffic was stopped, and that was told.
      if (this.#rps === 0 && this.#inFlight.size === 0 && this.#reporter !== null) {
        clearInterval(this.#reporter)
        this.#reporter = null
      }
      return
    }
    const statuses = [...counts.keys()].sort()
    const key = statuses.join(',')
    if (key === this.#told) return
    this.#told = key
    const parts = statuses.map((status) => {
      const part = `${status} ×${counts.get(status)}/s`
      return status === '503' && retryAfter !== null ? `${part} (Retry-After ${retryAfter} s)` : part
    })
    this.#options.tell(`customers: ${parts.join(' · ')}`)
  }
}
