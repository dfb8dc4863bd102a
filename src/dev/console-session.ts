// The dev console's view of a `gatekeep dev` session (src/console/types.ts): events in, from
// the session's feed; actions out, to what the session does. It keeps what a page opened late
// needs to start complete: each instance's last gate, the provider's state and mode, the
// traffic's rate, the latest events and a minute of request totals.
import type { ActionResult, ConsoleEvent, ConsoleSession, ServiceSnapshot, SnapshotEvent } from '../console/types.js'
import type { FeedEvent, RestartCause } from './feed.js'

/** Enough for the event list of a page opened late; older events are in the terminal. */
const RECENT_EVENTS = 300
/** The chart shows a minute. */
const REQUESTS_WINDOW_MS = 60_000

/** What the session does when the console asks: each answers what changed, or why not. */
export interface ConsoleActions {
  fire(): Promise<ActionResult>
  restart(): Promise<ActionResult>
  expire(): Promise<ActionResult>
  setMode(mode: string): Promise<ActionResult>
  setTraffic(rps: number): Promise<ActionResult>
  abort(count: number): Promise<ActionResult>
}

export interface DevConsoleOptions {
  /** The instances, in port order: their feed source and URL. */
  services: readonly { source: string; url: string }[]
  provider: { url: string; mode: string }
  modes: readonly string[]
  trafficRps: number
  actions: ConsoleActions
  now?: () => number
}

/** Dev's own events, beyond the service's vocabulary, as the console tells them. */
export type DevConsoleEvent =
  | { type: 'provider-mode'; mode: string }
  | { type: 'traffic'; rps: number }

function describeCause(cause: RestartCause): string {
  if (cause.kind === 'change') return `${cause.file} changed`
  if (cause.kind === 'request') return cause.reason
  return 'the provider exited'
}

export class DevConsoleSession implements ConsoleSession {
  readonly #options: DevConsoleOptions
  readonly #services: ServiceSnapshot[]
  readonly #provider: { url: string; listening: boolean; mode: string }
  readonly #listeners = new Set<(event: ConsoleEvent) => void>()
  #trafficRps: number
  #recent: ConsoleEvent[] = []
  #requests: ConsoleEvent[] = []
  /** A restart under way: its cause, when it began, and the instances not yet listening again. */
  #restart: { cause: string; at: number; waiting: Set<string> } | null = null

  constructor(options: DevConsoleOptions) {
    this.#options = options
    this.#services = options.services.map(({ source, url }) => ({ source, url, listening: false, gate: null }))
    this.#provider = { url: options.provider.url, listening: false, mode: options.provider.mode }
    this.#trafficRps = options.trafficRps
  }

  snapshot(): SnapshotEvent {
    const now = this.#now()
    this.#requests = this.#requests.filter(({ at }) => at > now - REQUESTS_WINDOW_MS)
    return {
      type: 'snapshot',
      at: now,
      source: 'gatekeep',
      services: structuredClone(this.#services),
      provider: { ...this.#provider },
      traffic: { rps: this.#trafficRps },
      modes: [...this.#options.modes],
      recent: [...this.#recent],
      requests: [...this.#requests],
    }
  }

  subscribe(listener: (event: ConsoleEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** One entry of the session's feed. dev's bookkeeping of its processes updates the state; the rest is told. */
  tell(entry: FeedEvent): void {
    const { source, at } = entry
    switch (entry.type) {
      case 'process-listening':
        this.#setListening(source, true)
        if (this.#restart?.waiting.delete(source) && this.#restart.waiting.size === 0) {
          const { cause, at: began } = this.#restart
          this.#restart = null
          this.#publish({ type: 'restart', source: 'gatekeep', at, cause, durationMs: at - began })
        }
        return
      case 'process-stopping':
      case 'process-exited':
        this.#setListening(source, false)
        return
      case 'process-silent':
        return
      case 'restart':
        this.#restart = {
          cause: describeCause(entry.cause),
          at,
          waiting: new Set([...this.#services.map((service) => service.source), ...(entry.provider ? ['provider'] : [])]),
        }
        return
      default: {
        // A child's event: `app` tells apart apps in one process, which the console does not show.
        const { app: _app, ...fields } = entry
        this.#publish(fields as ConsoleEvent)
      }
    }
  }

  /** dev's own changes: the provider's mode, the traffic's rate. */
  tellDev(event: DevConsoleEvent): void {
    if (event.type === 'provider-mode') {
      this.#provider.mode = event.mode
      this.#publish({ ...event, source: 'provider', at: this.#now() })
    } else {
      this.#trafficRps = event.rps
      this.#publish({ ...event, source: 'gatekeep', at: this.#now() })
    }
  }

  fire(): Promise<ActionResult> {
    return this.#options.actions.fire()
  }

  restart(): Promise<ActionResult> {
    return this.#options.actions.restart()
  }

  expire(): Promise<ActionResult> {
    return this.#options.actions.expire()
  }

  setMode(mode: string): Promise<ActionResult> {
    return this.#options.actions.setMode(mode)
  }

  setTraffic(rps: number): Promise<ActionResult> {
    return this.#options.actions.setTraffic(rps)
  }

  abort(count: number): Promise<ActionResult> {
    return this.#options.actions.abort(count)
  }

  #now(): number {
    return (this.#options.now ?? Date.now)()
  }

  #setListening(source: string, listening: boolean): void {
    if (source === 'provider') this.#provider.listening = listening
    const service = this.#services.find((candidate) => candidate.source === source)
    if (service !== undefined) service.listening = listening
  }

  #publish(event: ConsoleEvent): void {
    if (event.type === 'requests') {
      this.#requests.push(event)
      const since = event.at - REQUESTS_WINDOW_MS
      while ((this.#requests[0]?.at ?? since) < since) this.#requests.shift()
    } else {
      this.#recent.push(event)
      if (this.#recent.length > RECENT_EVENTS) this.#recent.splice(0, this.#recent.length - RECENT_EVENTS)
    }
    if (event.type === 'gate') {
      const service = this.#services.find((candidate) => candidate.source === event.source)
      if (service !== undefined) service.gate = event
    }
    for (const listener of this.#listeners) listener(event)
  }
}
