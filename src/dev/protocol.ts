// Messages between `gatekeep dev` and the processes it runs (runner.ts), over their IPC channel.
import type { AbortsAnswer } from '../project/contract.js'

/** What a process becomes: the service (or its standby), or the mock provider. */
export type ChildRole = 'service' | 'provider'

// ── dev → child ─────────────────────────────────────────────────────────────────────────────

/** Import the entry: the standby becomes the service. */
export interface StartMessage {
  type: 'start'
  /** Absolute path of the entry file. */
  entry: string
}

/** What dev asks of the service; each is answered by a `reply` with the same `id`. */
export interface Commands {
  /** Which of these request ids the service saw aborted (as `GET /__gatekeep/aborts` answers). */
  aborts: { request: { ids: string[] }; result: AbortsAnswer }
  /** Expire the key now: the gate closes (`key-expired`) and a new handshake starts. */
  expire: { request: Record<never, never>; result: { expired: boolean } }
}
export type CommandName = keyof Commands

export type CommandMessage = { [N in CommandName]: { type: N; id: number } & Commands[N]['request'] }[CommandName]

export type RunnerMessage = StartMessage | CommandMessage

// ── child → dev ─────────────────────────────────────────────────────────────────────────────

/** A `gatekeep:*` event as the service published it; dev checks it against the contract. */
export interface EventMessage {
  type: 'event'
  event: unknown
}

export type ReplyMessage = { type: 'reply'; id: number; result: unknown } | { type: 'reply'; id: number; error: string }

export type ChildMessage = EventMessage | ReplyMessage
