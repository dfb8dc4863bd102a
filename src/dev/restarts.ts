import { WorkError } from '../errors.js'
import { ChangeBatch } from './change-batch.js'
import type { ChildExit } from './child.js'
import type { DevEvent } from './feed.js'
import type { ProviderSlot } from './provider-slot.js'
import type { ServiceSlot } from './service-slot.js'

/** Saves closer together than this are one change (a trailing debounce). */
const QUIET_MS = 100
/** The provider crashing this often within the window ends dev: restarting it is not helping. */
const PROVIDER_CRASH_LIMIT = 3
const PROVIDER_CRASH_WINDOW_MS = 10_000
/** Only the mock provider's own files restart it; its client belongs to the service. */
const PROVIDER_FILE = /^src\/provider\/mock[^/]*\.[cm]?[jt]s$/
/** Where the dependencies are, which every standby has loaded already. */
const MANIFEST = 'package.json'

export interface RestarterOptions {
  services: readonly ServiceSlot[]
  provider: ProviderSlot
  /** Each restart, with its cause, as it is decided. */
  report(event: DevEvent): void
  /** The provider keeps crashing: dev should end with this error. */
  giveUp(error: WorkError): void
  /** Monotonic milliseconds: the slots' `since`, and the crash window. */
  now(): number
}

/** One restart as it waits in the queue. */
interface RestartPlan {
  /** Restart the provider too (its file changed, or it crashed). */
  provider: boolean
  /** When the cause happened, on `now`'s clock, for "listening after N ms". */
  since: number
}

/**
 * When to restart what. A save, or a burst of saves, is one restart of every instance; the
 * provider's own files restart it too; package.json drops the standbys, which loaded the old
 * dependencies; a crashed provider is restarted with the instances, until it crashes too often.
 * Restarts run one after the other through a queue, each from the old processes' exit (their
 * ports are free then) to the new instances' start.
 */
export class Restarter {
  readonly #options: RestarterOptions
  readonly #batch: ChangeBatch
  #queue: Promise<void> = Promise.resolve()
  /** Restarts scheduled and not finished, the one under way included. */
  #queued = 0
  #closed = false
  #batchRestartsProvider = false
  #lastChangeAt = 0
  #providerCrashes: number[] = []
  /** Old processes already told to stop, ahead of the restart that waits for them. */
  #stopping: Promise<unknown>[] = []

  constructor(options: RestarterOptions) {
    this.#options = options
    this.#batch = new ChangeBatch(QUIET_MS, (files) => this.#onBatchSettled(files))
  }

  /** dev's start: the standbys warm while the provider starts; the instances follow it. */
  startAll(): void {
    for (const slot of this.#options.services) slot.warmStandby()
    // 0 on performance.now()'s clock is dev's own start: the first "listening after" includes it.
    this.#schedule({ provider: true, since: 0 })
  }

  /** A file of the project was added, changed or removed (by its path from the root). */
  fileChanged(file: string): void {
    if (this.#closed) return
    const providerFile = PROVIDER_FILE.test(file)
    this.#lastChangeAt = this.#options.now()
    if (this.#batch.add(file)) {
      this.#options.report({ type: 'restart', cause: { kind: 'change', file }, provider: providerFile })
    }
    this.#batchRestartsProvider ||= providerFile
    // Whatever else comes, the batch restarts these: stopping them now overlaps their shutdown
    // with the debounce instead of adding it to the restart. Not while a restart is under way:
    // the queued one stops what that one starts.
    if (this.#queued === 0) {
      this.#stopInstances()
      if (providerFile) this.#stopProvider()
    }
  }

  /** Restarts every instance (the provider keeps running): `r`, or the console. False once dev is quitting. */
  requestRestart(reason: string): boolean {
    if (this.#closed) return false
    this.#options.report({ type: 'restart', cause: { kind: 'request', reason }, provider: false })
    this.#schedule({ provider: false, since: this.#options.now() })
    return true
  }

  /** The provider exited without being told to: restarted with the instances, within limits. */
  providerExited(exit: ChildExit): void {
    if (this.#closed) return
    const now = this.#options.now()
    this.#providerCrashes = [...this.#providerCrashes.filter((at) => now - at < PROVIDER_CRASH_WINDOW_MS), now]
    if (this.#providerCrashes.length >= PROVIDER_CRASH_LIMIT) {
      this.#options.giveUp(
        new WorkError(`the provider crashed ${PROVIDER_CRASH_LIMIT} times within ${PROVIDER_CRASH_WINDOW_MS / 1000} s; see its output above.`),
      )
      return
    }
    // The instances restart with it: their handshake was with the provider that is gone.
    this.#options.report({ type: 'restart', cause: { kind: 'provider-exited', exit }, provider: true })
    this.#schedule({ provider: true, since: now })
  }

  /** dev is quitting: a pending batch is dropped, and no restart starts anything more. */
  close(): void {
    this.#closed = true
    this.#batch.cancel()
  }

  #onBatchSettled(files: string[]): void {
    if (files.includes(MANIFEST)) {
      for (const slot of this.#options.services) slot.dropStandby()
    }
    this.#schedule({ provider: this.#batchRestartsProvider, since: this.#lastChangeAt })
    this.#batchRestartsProvider = false
  }

  #schedule(plan: RestartPlan): void {
    this.#queued += 1
    this.#queue = this.#queue
      .then(() => this.#carryOut(plan))
      .finally(() => {
        this.#queued -= 1
      })
  }

  async #carryOut({ provider, since }: RestartPlan): Promise<void> {
    if (this.#closed) return
    this.#stopInstances()
    if (provider) this.#stopProvider()
    const stopping = this.#stopping
    this.#stopping = []
    // The new instances listen only once the old ones have exited, so their ports are free.
    await Promise.all(stopping)
    if (this.#closed) return

    const { services, provider: providerSlot } = this.#options
    // Its exit is reported, and restarts it, when it fails to listen.
    if (!providerSlot.running && !(await providerSlot.start(since))) return
    if (this.#closed) return
    const started = services.map((slot) => slot.start(since))
    // Standbys are warmed only once every instance has taken over, not to slow down their start.
    void Promise.all(started).then(() => {
      for (const slot of services) slot.warmStandby()
    })
  }

  #stopInstances(): void {
    for (const slot of this.#options.services) {
      const exited = slot.stopInstance()
      if (exited) this.#stopping.push(exited)
    }
  }

  #stopProvider(): void {
    const exited = this.#options.provider.stop()
    if (exited) this.#stopping.push(exited)
  }
}
