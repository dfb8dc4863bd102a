import { LISTEN_WAIT_MS, whenSilent, type ChildExit, type DevChild, type LaunchSpec } from './child.js'
import type { SlotReport } from './feed.js'
import type { CommandName, Commands } from './protocol.js'

export interface ServiceSlotOptions {
  /** Where the instance listens (its PORT and PUBLIC_URL are in `env`). */
  url: string
  env: Record<string, string>
  /** Absolute path of the service's entry, which a standby imports when it takes over. */
  entry: string
  launch(spec: Omit<LaunchSpec, 'entry'>): DevChild
  report: SlotReport
  /** The clock that `start`'s `since` is read on. */
  now(): number
}

/**
 * One instance of the service, on its own port, and its warm standby: the next process, which
 * loads Node, tsx and the project's dependencies while the instance runs, so that a restart is a
 * go message, not a cold start. Only the instance's events are reported: a process on its way
 * out (or not yet in) speaks for nobody.
 */
export class ServiceSlot {
  readonly url: string
  readonly #options: ServiceSlotOptions
  #instance: DevChild | null = null
  #listening = false
  #standby: DevChild | null = null
  #closed = false

  constructor(options: ServiceSlotOptions) {
    this.#options = options
    this.url = options.url
  }

  /** The process listening on the slot's URL, for dev.json; null while none does. */
  get listener(): { url: string; pid: number } | null {
    return this.#instance !== null && this.#listening ? { url: this.url, pid: this.#instance.pid } : null
  }

  /** Starts the next process ahead of time, unless one waits already. */
  warmStandby(): void {
    if (this.#closed || this.#standby !== null) return
    this.#standby = this.#launch()
  }

  /** Stops the standby: it loaded what may have changed (package.json's dependencies). */
  dropStandby(): void {
    const standby = this.#standby
    this.#standby = null
    void standby?.stop()
  }

  /**
   * The standby (without one, a process started cold) becomes the instance. Resolves once it
   * listens or has exited; `since` is when the cause of this start happened, on `now`'s clock.
   */
  start(since: number): Promise<void> {
    if (this.#closed) return Promise.resolve()
    const child = this.#standby ?? this.#launch()
    this.#standby = null
    this.#instance = child
    this.#listening = false
    child.start(this.#options.entry)
    whenSilent(child, () => {
      if (!this.#closed && this.#instance === child) this.#options.report({ type: 'process-silent', pid: child.pid, waitedMs: LISTEN_WAIT_MS })
    })
    return child.listening.then((url) => {
      if (url === null || this.#closed || this.#instance !== child) return
      this.#listening = true
      this.#options.report({ type: 'process-listening', url: this.url, pid: child.pid, afterMs: this.#options.now() - since })
    })
  }

  /** Tells the instance to stop; resolves once it has exited. Null when there is none. */
  stopInstance(): Promise<ChildExit> | null {
    const child = this.#instance
    if (child === null) return null
    this.#instance = null
    this.#listening = false
    this.#options.report({ type: 'process-stopping', pid: child.pid })
    return child.stop()
  }

  /** Asks the listening instance; rejects when none listens. */
  command<N extends CommandName>(name: N, request: Commands[N]['request']): Promise<Commands[N]['result']> {
    if (this.#instance === null || !this.#listening) return Promise.reject(new Error(`no instance listens on ${this.url}`))
    return this.#instance.command(name, request)
  }

  /** dev is quitting: nothing more is started or reported; the session stops the processes. */
  close(): void {
    this.#closed = true
  }

  #launch(): DevChild {
    const child = this.#options.launch({
      role: 'service',
      env: this.#options.env,
      onEvent: (event) => {
        if (this.#instance === child) this.#options.report(event)
      },
    })
    void child.exited.then((exit) => {
      if (this.#standby === child) this.#standby = null
      if (this.#instance !== child) return
      this.#instance = null
      this.#listening = false
      if (!this.#closed) this.#options.report({ type: 'process-exited', pid: child.pid, exit })
    })
    return child
  }
}
