import { LISTEN_WAIT_MS, whenSilent, type ChildExit, type DevChild, type LaunchSpec } from './child.js'
import type { SlotReport } from './feed.js'

export interface ProviderSlotOptions {
  url: string
  env: Record<string, string>
  /** Absolute path of the mock provider's entry. */
  entry: string
  launch(spec: LaunchSpec): DevChild
  report: SlotReport
  /** The clock that `start`'s `since` is read on. */
  now(): number
}

/**
 * The mock provider's process. It has no standby: it restarts only when its own files change or
 * it crashes, rarely enough that a cold start does.
 */
export class ProviderSlot {
  readonly url: string
  readonly #options: ProviderSlotOptions
  #process: DevChild | null = null
  #listening = false
  #closed = false
  #env: Record<string, string>

  constructor(options: ProviderSlotOptions) {
    this.#options = options
    this.url = options.url
    this.#env = options.env
  }

  /** A mode switched live: every provider started from now on starts in it too. */
  set mode(mode: string) {
    this.#env = { ...this.#env, PROVIDER_MODE: mode }
  }

  /** The process listening on the provider's URL, for dev.json; null while none does. */
  get listener(): { url: string; pid: number } | null {
    return this.#process !== null && this.#listening ? { url: this.url, pid: this.#process.pid } : null
  }

  /** A process is there: started, neither stopped nor exited. */
  get running(): boolean {
    return this.#process !== null
  }

  /** Resolves true once it listens; false when it exits first, or dev quits meanwhile. */
  start(since: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    const { entry, launch, report, now } = this.#options
    const child = launch({
      role: 'provider',
      env: this.#env,
      entry,
      onEvent: (event) => {
        if (this.#process === child) report(event)
      },
    })
    this.#process = child
    this.#listening = false
    whenSilent(child, () => {
      if (!this.#closed && this.#process === child) report({ type: 'process-silent', pid: child.pid, waitedMs: LISTEN_WAIT_MS })
    })
    void child.exited.then((exit) => {
      if (this.#process !== child) return
      this.#process = null
      this.#listening = false
      if (!this.#closed) report({ type: 'process-exited', pid: child.pid, exit })
    })
    return child.listening.then((url) => {
      if (url === null || this.#closed || this.#process !== child) return false
      this.#listening = true
      report({ type: 'process-listening', url: this.url, pid: child.pid, afterMs: now() - since })
      return true
    })
  }

  /** Tells it to stop; resolves once it has exited. Null when none runs. */
  stop(): Promise<ChildExit> | null {
    const child = this.#process
    if (child === null) return null
    this.#process = null
    this.#listening = false
    this.#options.report({ type: 'process-stopping', pid: child.pid })
    return child.stop()
  }

  /** dev is quitting: nothing more is started or reported; the session stops the process. */
  close(): void {
    this.#closed = true
  }
}
