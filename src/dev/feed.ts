// What a session's subscribers (its narration, and the dev console) learn of it: the events its
// children publish, and dev's own account of the processes it runs.
import type { ServiceEvent } from '../project/contract.js'
import type { ChildExit } from './child.js'
import type { Source } from './log-view.js'

/** Why the service instances restart. */
export type RestartCause =
  /** A save, or the first of a burst of saves. */
  | { kind: 'change'; file: string }
  /** Asked for: the `r` key, or the console. */
  | { kind: 'request'; reason: string }
  /** The provider exited by itself: the instances' handshake was with it. */
  | { kind: 'provider-exited'; exit: ChildExit }

/** What dev sees happen to the processes it runs. */
export type DevEvent =
  | {
      type: 'restart'
      cause: RestartCause
      /** The provider restarts too. */
      provider: boolean
    }
  /** A process listens where dev put it; `afterMs` since what caused its start (a save, a key, dev's start). */
  | { type: 'process-listening'; url: string; pid: number; afterMs: number }
  /** Told to stop (a restart): it serves no longer. */
  | { type: 'process-stopping'; pid: number }
  /** Exited without being told to. */
  | { type: 'process-exited'; pid: number; exit: ChildExit }
  /** Has said nothing of listening this long after its start; it keeps its chance. */
  | { type: 'process-silent'; pid: number; waitedMs: number }

/** What a slot tells the session about its process. */
export type SlotReport = (event: ServiceEvent | DevEvent) => void

/** One entry of the feed: from which process (or dev itself), and when (epoch ms). */
export type FeedEvent = (ServiceEvent | DevEvent) & { source: Source; at: number }

export type FeedSubscriber = (event: FeedEvent) => void
