/** Where the gate reads the time and schedules its timers: the system's, or a test's fake clock. */
export interface Clock {
  now(): number
  /** Runs `run` after `ms`; returns what cancels it. */
  setTimer(run: () => void, ms: number): () => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(run, ms) {
    // Unref'd: the server keeps the process alive; a pending retry alone must not.
    const timer = setTimeout(run, ms).unref()
    return () => clearTimeout(timer)
  },
}

/** setTimeout fires at once past this (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

/** One timer per name: setting a name again replaces its timer. */
export class Timers<Name extends string> {
  readonly #clock: Clock
  readonly #cancels = new Map<Name, () => void>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  set(name: Name, ms: number, run: () => void): void {
    this.clear(name)
    // A key living longer than setTimeout can wait is waited for in hops.
    const hopMs = Math.min(Math.max(0, ms), MAX_TIMER_MS)
    const next =
      hopMs < ms
        ? () => this.set(name, ms - hopMs, run)
        : () => {
            this.#cancels.delete(name)
            run()
          }
    this.#cancels.set(name, this.#clock.setTimer(next, hopMs))
  }

  clear(name: Name): void {
    this.#cancels.get(name)?.()
    this.#cancels.delete(name)
  }

  clearAll(): void {
    for (const cancel of this.#cancels.values()) cancel()
    this.#cancels.clear()
  }
}

/**
 * Capped exponential backoff with "equal jitter": never less than half the step, so a failing
 * provider is not hammered, and spread so that many instances do not retry in lockstep.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}
