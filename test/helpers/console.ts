// The dev console's test kit: a fake session that plays a handshake story, plain HTTP and SSE
// clients that set any header (fetch would not let a test forge Host), headless Chromium, and the
// "event to pixels" measure that `npm run bench` can use against a real session.
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { performance } from 'node:perf_hooks'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { ActionResult, ConsoleEvent, ConsoleSession, ServiceSnapshot, SnapshotEvent } from '../../src/console/types.js'

export const PROVIDER_MODES = ['ok', 'reject', 'never', 'flaky', 'bad-signature', 'wrong-key', 'slow-data']

/** A token as dev makes them. */
export const TOKEN = 'test-token-0123456789abcdef'

type Fields = { type: string; source: string; at?: number; [field: string]: unknown }

/**
 * A session that keeps what the real one keeps (services' last gate, the provider's mode, recent
 * events, request totals) from the events a test emits, and records the actions it is asked for.
 * Its actions play the story a real session would tell: firing the webhook opens the gate,
 * expiring the key closes it and starts a new handshake.
 */
export class FakeSession implements ConsoleSession {
  readonly calls: string[] = []
  readonly services: ServiceSnapshot[]
  provider = { url: 'http://127.0.0.1:4000', listening: true, mode: 'ok' }
  traffic = { rps: 0 }
  recent: ConsoleEvent[] = []
  requests: ConsoleEvent[] = []
  /** What `restart` answers, for a test of the refusal path; null applies it. */
  restartRefusal: string | null = null
  readonly #listeners = new Set<(event: ConsoleEvent) => void>()
  #handshakes = 0

  constructor(sources: string[] = ['service']) {
    this.services = sources.map((source, index) => ({ source, url: `http://127.0.0.1:${3000 + index}`, listening: true, gate: null }))
  }

  get listenerCount(): number {
    return this.#listeners.size
  }

  snapshot(): SnapshotEvent {
    return {
      type: 'snapshot',
      at: Date.now(),
      source: 'gatekeep',
      services: structuredClone(this.services),
      provider: { ...this.provider },
      traffic: { ...this.traffic },
      modes: PROVIDER_MODES,
      recent: [...this.recent],
      requests: [...this.requests],
    }
  }

  subscribe(listener: (event: ConsoleEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Keeps `fields` as the session would, and tells every subscriber. */
  emit(fields: Fields): ConsoleEvent {
    const event: ConsoleEvent = { ...fields, at: fields.at ?? Date.now() }
    if (event.type === 'requests') this.requests.push(event)
    else this.recent.push(event)
    if (event.type === 'gate') {
      const service = this.services.find(({ source }) => source === event.source)
      if (service !== undefined) service.gate = event
    }
    if (event.type === 'provider-mode') this.provider.mode = event.mode as string
    for (const listener of this.#listeners) listener(event)
    return event
  }

  /** Every instance starts a handshake and awaits its webhook, `etaMs` from now. */
  pending(etaMs: number, reason = 'gate-pending', from = 'idle'): void {
    this.#handshakes += 1
    for (const { source } of this.services) {
      this.emit({ type: 'gate', source, state: 'claiming', from, reason })
      this.emit({ type: 'handshake', source, outcome: 'started', attempt: 1 })
      this.emit({ type: 'gate', source, state: 'authorizing', from: 'claiming', reason })
      this.emit({ type: 'gate', source, state: 'awaiting-webhook', from: 'authorizing', reason, etaMs, attempt: 1, requestId: `hs_${this.#handshakes}` })
    }
  }

  /** The provider's webhook arrives and every gate opens. */
  deliverWebhook(): void {
    const requestId = `hs_${this.#handshakes}`
    for (const { source, gate } of this.services) {
      this.emit({ type: 'webhook', source, outcome: 'received', reqId: `req-${requestId}`, requestId })
      this.emit({ type: 'webhook', source, outcome: 'applied', reqId: `req-${requestId}`, requestId })
      this.emit({ type: 'handshake', source, outcome: 'completed', attempt: 1, requestId, expiresAt: Date.now() + 3_600_000 })
      this.emit({ type: 'gate', source, state: 'open', from: 'awaiting-webhook', elapsedMs: gate === null ? 0 : Date.now() - gate.at + 1200 })
    }
  }

  /** One interval's totals for `source`: `counts` by status, 503s refused by the gate. */
  requestTotals(source: string, counts: Record<string, number>, { aborted = 0, at }: { aborted?: number; at?: number } = {}): void {
    const total = Object.values(counts).reduce((sum, count) => sum + count, 0)
    this.emit({ type: 'requests', source, at, intervalMs: 100, total, byStatus: counts, byCause: counts['503'] ? { gate: counts['503'] } : {}, aborted })
  }

  async fire(): Promise<ActionResult> {
    this.calls.push('fire')
    this.deliverWebhook()
    return { applied: true, changed: 'the provider called back' }
  }

  async restart(): Promise<ActionResult> {
    this.calls.push('restart')
    if (this.restartRefusal !== null) return { applied: false, reason: this.restartRefusal }
    for (const { source } of this.services) this.emit({ type: 'restart', source, cause: 'console', durationMs: 182 })
    return { applied: true, changed: 'the service restarted' }
  }

  async expire(): Promise<ActionResult> {
    this.calls.push('expire')
    for (const { source } of this.services) this.emit({ type: 'gate', source, state: 'closed', from: 'open', reason: 'key-expired' })
    this.pending(4000, 'key-expired', 'closed')
    return { applied: true, changed: 'the key expired: every gate closed, a new handshake runs' }
  }

  async setMode(mode: string): Promise<ActionResult> {
    this.calls.push(`mode ${mode}`)
    this.emit({ type: 'provider-mode', source: 'provider', mode })
    return { applied: true, changed: `provider mode: ${mode}` }
  }

  async setTraffic(rps: number): Promise<ActionResult> {
    this.calls.push(`traffic ${rps}`)
    this.traffic.rps = rps
    return { applied: true, changed: rps === 0 ? 'traffic stopped' : `traffic: ${rps} requests/s` }
  }

  async abort(count: number): Promise<ActionResult> {
    this.calls.push(`abort ${count}`)
    const source = this.services[0]?.source ?? 'service'
    for (let index = 0; index < count; index += 1) {
      this.emit({ type: 'abort', source, requestId: `req-abort-${index + 1}`, detectedAt: Date.now(), detectedAfterMs: 3.4 + index, cancelled: true })
    }
    return { applied: true, changed: `${count} aborted requests sent` }
  }
}

// ── HTTP ───────────────────────────────────────────────────────────────────────────────────

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One request to the console at `base` (its URL), with exactly the headers given (Host defaults to base's). */
export function call(base: string, path: string, { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(path, base)
  return new Promise((resolve, reject) => {
    // A connection of its own: a pooled one could outlive the server under test.
    const outgoing = request(url, { agent: false, method, headers: { ...(body !== undefined && !headers['transfer-encoding'] && { 'content-length': String(Buffer.byteLength(body)) }), ...headers } }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    outgoing.setTimeout(5000, () => outgoing.destroy(new Error(`${method} ${path}: no answer in 5 s`)))
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

export interface EventStream {
  status: number
  /** The next event; rejects after `timeoutMs` without one, or when the stream ended. */
  next(timeoutMs?: number): Promise<ConsoleEvent>
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  close(): void
}

/** Opens `/events` with `headers`; for a refused request, `status` tells and no event comes. */
export function openEvents(base: string, headers: Record<string, string>): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const outgoing = request(new URL('/events', base), { agent: false, headers }, (response) => {
      const queue: ConsoleEvent[] = []
      const waiting: ((event: ConsoleEvent | null) => void)[] = []
      let buffer = ''
      let done = false
      const deliver = (event: ConsoleEvent | null) => {
        const waiter = waiting.shift()
        if (waiter !== undefined) waiter(event)
        else if (event !== null) queue.push(event)
      }
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice('data: '.length))
          if (data.length > 0) deliver(JSON.parse(data.join('\n')) as ConsoleEvent)
        }
      })
      const ended = new Promise<void>((settle) =>
        response.on('close', () => {
          done = true
          while (waiting.length > 0) deliver(null)
          settle()
        }),
      )
      resolve({
        status: response.statusCode ?? 0,
        ended,
        close: () => outgoing.destroy(),
        next: (timeoutMs = 3000) => {
          const queued = queue.shift()
          if (queued !== undefined) return Promise.resolve(queued)
          if (done) return Promise.reject(new Error('the stream has ended'))
          return new Promise((settle, fail) => {
            const timer = setTimeout(() => fail(new Error(`no event in ${timeoutMs} ms`)), timeoutMs)
            waiting.push((event) => {
              clearTimeout(timer)
              if (event === null) fail(new Error('the stream has ended'))
              else settle(event)
            })
          })
        },
      })
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

// ── The browser ────────────────────────────────────────────────────────────────────────────

export const CHROMIUM = '/usr/bin/chromium'

/** Debian's chromium, headless. Missing, the test fails and says how to get it: browser tests never skip. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: the console's browser tests need Debian's chromium package (apt-get install chromium)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  })
}

/** A change that has not shown by then is a failure, not a slow sample. */
const CHANGE_TIMEOUT_MS = 5000

export interface EventToPixels {
  /** One per round, in ms: from just before the event was emitted to the frame that shows it. */
  samples: number[]
  median: number
}

/**
 * "Event to pixels": how long from an event leaving the session to its change on `page`. Each
 * round watches `change(round).selector` until its text includes `change(round).text`, then
 * emits the event; the page notes the first animation frame after the change (the frame that
 * paints it). Both clocks are epoch-based high-resolution time on one machine. `emit` may return
 * the event's own origin (epoch ms, e.g. when a service stamped it) to measure from there instead.
 * Rounds alternate a change and its reverse, so that each round's text is new to the page.
 */
export async function measureEventToPixels(
  page: Page,
  { rounds, change, emit }: { rounds: number; change: (round: number) => { selector: string; text: string }; emit: (round: number) => unknown },
): Promise<EventToPixels> {
  const samples: number[] = []
  for (let round = 0; round < rounds; round += 1) {
    const { selector, text } = change(round)
    // In the page (a string: the test's TypeScript has no DOM types). Resolves on the first frame
    // after `selector`'s text includes `text`; the script's value is a string, not the promise,
    // so that this evaluate does not wait for it.
    await page.evaluate(`window.__gatekeepChange = new Promise((resolve, reject) => {
      const target = document.querySelector(${JSON.stringify(selector)})
      const wanted = ${JSON.stringify(text)}
      if (target === null) return reject(new Error('no ' + ${JSON.stringify(selector)} + ' on the page'))
      if (target.textContent.includes(wanted)) return reject(new Error(${JSON.stringify(selector)} + ' shows ' + wanted + ' already'))
      const timer = setTimeout(() => reject(new Error(${JSON.stringify(selector)} + ' did not show ' + wanted + ' in ${CHANGE_TIMEOUT_MS} ms')), ${CHANGE_TIMEOUT_MS})
      const observer = new MutationObserver(() => {
        if (!target.textContent.includes(wanted)) return
        observer.disconnect()
        clearTimeout(timer)
        requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()))
      })
      observer.observe(target, { subtree: true, childList: true, characterData: true })
    }); 'watching'`)
    const startedAt = performance.timeOrigin + performance.now()
    const origin = await emit(round)
    const shownAt = (await page.evaluate('window.__gatekeepChange')) as number
    samples.push(shownAt - (typeof origin === 'number' ? origin : startedAt))
  }
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  return { samples, median }
}
