// What the dev console (src/console/server.ts) needs from a `gatekeep dev` session, and what its
// page receives. Types only: the page (src/console/page/) imports them too, and it runs in a
// browser, so nothing here may pull in Node code.

/** Everything the page and `/events` see: a typed event with when and where it happened. */
export interface ConsoleEvent {
  type: string
  /** Epoch ms. */
  at: number
  /** 'service' (one instance), `service#${n}` (several), 'provider' or 'gatekeep' (dev itself). */
  source: string
  [field: string]: unknown
}

/** What an action did: `changed` and `reason` are one line a person reads (the CLI prints it). */
export type ActionResult = { applied: true; changed: string } | { applied: false; reason: string }

/** One service instance, as the snapshot tells it. */
export interface ServiceSnapshot {
  source: string
  url: string
  listening: boolean
  /** Its last `gate` event, `at` and `source` included; null before the first. */
  gate: ConsoleEvent | null
}

/** The first event on `/events`: the whole current state, so that a page opened late (or reconnected) starts complete. */
export interface SnapshotEvent extends ConsoleEvent {
  type: 'snapshot'
  source: 'gatekeep'
  services: ServiceSnapshot[]
  provider: { url: string; listening: boolean; mode: string }
  traffic: { rps: number }
  /** The provider modes the select offers, in order. */
  modes: string[]
  /** The latest events, oldest first, for the event list (gate events in it draw the chart's bands). */
  recent: ConsoleEvent[]
  /** The latest `requests` totals, oldest first, for the chart (a minute's worth is enough). */
  requests: ConsoleEvent[]
}

/** What the console drives: implemented by the dev session. */
export interface ConsoleSession {
  snapshot(): SnapshotEvent
  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  subscribe(listener: (event: ConsoleEvent) => void): () => void
  /** The provider calls back now. */
  fire(): Promise<ActionResult>
  restart(): Promise<ActionResult>
  /** Discards the key everywhere it lives; every instance's gate closes with `key-expired`. */
  expire(): Promise<ActionResult>
  /** `mode` is one of the snapshot's `modes` (the server checks). */
  setMode(mode: string): Promise<ActionResult>
  /** 0 stops the traffic; at most MAX_TRAFFIC_RPS (the server checks). */
  setTraffic(rps: number): Promise<ActionResult>
  /** How many aborted requests to send; 1 to MAX_ABORT_COUNT (the server checks). */
  abort(count: number): Promise<ActionResult>
}

export interface ConsoleOptions {
  session: ConsoleSession
  /** On 127.0.0.1; 0 lets the system choose (the returned `url` tells which). */
  port: number
  /** The session's secret: 16 or more of A-Z a-z 0-9 _ - (e.g. randomBytes(24).toString('base64url')). */
  token: string
}

export interface RunningConsole {
  /** `http://127.0.0.1:<port>/` */
  url: string
  /** Ends every open `/events` stream and connection, then stops listening. */
  close(): Promise<void>
}
