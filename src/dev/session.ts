import path from 'node:path'
import { WorkError } from '../errors.js'
import { PROVIDER_ENTRY, PROVIDER_ROUTES, SERVICE_ENTRY, type DevState, type ProviderMode, type ServiceEvent } from '../project/contract.js'
import type { DevChild, LaunchSpec, SpawnChild } from './child.js'
import type { DevEvent, FeedEvent, FeedSubscriber, SlotReport } from './feed.js'
import type { IgnoredMessages } from './ignored-messages.js'
import type { KeySource } from './keys.js'
import type { LogView, ServiceTag, Source } from './log-view.js'
import { Narrator } from './narrator.js'
import { ProviderSlot } from './provider-slot.js'
import { Restarter } from './restarts.js'
import { ServiceSlot } from './service-slot.js'
import { alreadyRunningError, type StateFile } from './state-file.js'
import { watchProject, type ProjectWatcher } from './watcher.js'

/** One instance of the service: its tag in dev's lines, its URL, its environment. */
export interface InstanceSpec {
  tag: ServiceTag
  url: string
  env: Record<string, string>
}

export interface DevSessionOptions {
  root: string
  /** In port order; each restart restarts them all. */
  services: readonly InstanceSpec[]
  provider: { url: string; env: Record<string, string> }
  /** Restart on changes to the project's files. */
  watch: boolean
  view: LogView
  stateFile: StateFile
  ignoredMessages: IgnoredMessages
  /** A pending gate counts down each second: for a person watching. */
  countdown: boolean
  spawnChild: SpawnChild
  keys: KeySource
  /** Monotonic milliseconds, from dev's start: "listening after N ms", and the crash window. */
  now?: () => number
}

/** How a session ended, short of an error: stopped as asked, or forced (asked twice). */
export type SessionEnd = 'stopped' | 'forced'

/** What asks dev to stop: a signal (Ctrl-C on a TTY stands for SIGINT), or the q key. */
export type StopCause = NodeJS.Signals | 'q'

/**
 * One `gatekeep dev` run: the provider and the service instances in their slots, restarted on
 * changes; `.gatekeep/dev.json`; the keys; dev's lines. Everything that happens reaches its
 * subscribers as one feed (the narration is one of them). Its actions (restart, fire, expire,
 * quit) are what the keys do, and what a console may do.
 */
export class DevSession {
  readonly #options: DevSessionOptions
  readonly #services: ServiceSlot[]
  readonly #provider: ProviderSlot
  readonly #restarts: Restarter
  readonly #narrator: Narrator
  readonly #subscribers = new Set<FeedSubscriber>()
  /** Every process started and not yet exited, whatever its role now. */
  readonly #children = new Set<DevChild>()
  readonly #ended: Promise<SessionEnd>
  #end!: (end: SessionEnd) => void
  #fail!: (error: Error) => void
  #closing = false
  #stopRequests = 0
  #watcher: ProjectWatcher | null = null
  #releaseKeys: (() => void) | null = null
  /** The dev console, for dev.json; null without one. */
  #console: { url: string; token: string } | null = null

  constructor(options: DevSessionOptions) {
    this.#options = options
    const { root, provider, view, countdown } = options
    const now = options.now ?? (() => performance.now())
    this.#services = options.services.map(
      ({ tag, url, env }) =>
        new ServiceSlot({
          url,
          env,
          entry: path.join(root, SERVICE_ENTRY),
          launch: (spec) => this.#launch(tag, spec),
          report: this.#reporter(tag, url, '--port'),
          now,
        }),
    )
    this.#provider = new ProviderSlot({
      ...provider,
      entry: path.join(root, PROVIDER_ENTRY),
      launch: (spec) => this.#launch('provider', spec),
      report: this.#reporter('provider', provider.url, '--provider-port'),
      now,
    })
    this.#restarts = new Restarter({
      services: this.#services,
      provider: this.#provider,
      report: (event) => this.#publish('gatekeep', event),
      giveUp: (error) => void this.quit(error),
      now,
    })
    const narrator = new Narrator(view, { services: options.services.map(({ tag }) => tag), countdown })
    this.#narrator = narrator
    this.subscribe((event) => narrator.tell(event))
    this.#ended = new Promise((resolve, reject) => {
      this.#end = resolve
      this.#fail = reject
    })
  }

  /** What dev.json says: the processes listening now. */
  get state(): DevState {
    return {
      pid: process.pid,
      services: this.#services.flatMap((slot) => (slot.listener ? [slot.listener] : [])),
      provider: this.#provider.listener,
      ...(this.#console !== null && { console: this.#console }),
    }
  }

  /** Where the console listens and its token: dev.json tells `gatekeep trigger`. Before `run`. */
  announceConsole(console: { url: string; token: string }): void {
    this.#console = console
  }

  /** The instances listening now, in port order. */
  listeningServices(): string[] {
    return this.#services.flatMap((slot) => (slot.listener ? [slot.listener.url] : []))
  }

  /**
   * Switches the provider's mode live; a provider dev starts later (a change to its files, a
   * crash) starts in it too. Rejects when the provider does not take it.
   */
  async setProviderMode(mode: ProviderMode): Promise<void> {
    const response = await fetch(`${this.#provider.url}${PROVIDER_ROUTES.mode}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode }),
    })
    if (!response.ok) throw new Error(`the provider answered ${response.status}: ${await response.text()}`)
    this.#provider.mode = mode
    this.#options.view.gatekeep(`provider mode: ${mode}`)
  }

  /** Every event from now on, in order; returns the function that unsubscribes. */
  subscribe(subscriber: FeedSubscriber): () => void {
    this.#subscribers.add(subscriber)
    return () => this.#subscribers.delete(subscriber)
  }

  /**
   * Claims dev.json (refused, naming the holder, when a live session has it), starts everything
   * and resolves once dev has stopped; rejects with what ended it otherwise (a child that cannot
   * listen, a provider that keeps crashing). dev.json is removed either way.
   */
  async run(): Promise<SessionEnd> {
    // Claimed before anything starts, atomically: of two sessions started at once, one runs.
    const holder = this.#options.stateFile.claim(this.state)
    if (holder) throw alreadyRunningError(holder)
    try {
      this.#start()
      return await this.#ended
    } finally {
      this.#options.stateFile.remove()
    }
  }

  /** Restarts every instance; `reason` is told. False once dev is quitting. */
  restart(reason: string): boolean {
    return this.#restarts.requestRestart(reason)
  }

  /**
   * The provider delivers its pending callbacks now; resolves with how many. Told either way;
   * rejects when the provider does not answer.
   */
  async fire(): Promise<number> {
    const { view } = this.#options
    try {
      const response = await fetch(`${this.#provider.url}${PROVIDER_ROUTES.callbackNow}`, { method: 'POST' })
      const { delivering } = (await response.json()) as { delivering: number }
      view.gatekeep(delivering > 0 ? `the provider calls back now (${delivering} pending)` : 'no callback is pending at the provider')
      return delivering
    } catch (error) {
      view.warn(`the provider did not answer: ${(error as Error).message}`)
      throw error
    }
  }

  /**
   * Expires the key now, through one listening instance: its store tells any other instance
   * sharing the key. Resolves false when there was no key to expire.
   */
  async expire(): Promise<boolean> {
    const slot = this.#services.find((candidate) => candidate.listener !== null)
    if (slot === undefined) throw new Error('no service instance is listening')
    return (await slot.command('expire', {})).expired
  }

  /** A stop asked for: the first stops every child gracefully, the second kills them at once. */
  requestStop(cause: StopCause): void {
    this.#stopRequests += 1
    if (this.#stopRequests > 1) {
      this.#force()
      return
    }
    this.#options.view.gatekeep(cause === 'q' ? 'q pressed: stopping (Ctrl-C to force)' : `${cause} received: stopping (again to force)`)
    void this.quit()
  }

  /**
   * Stops every child gracefully (SIGTERM, then SIGKILL after a grace period) and ends the
   * session: with `error` when given (`run` rejects with it).
   */
  async quit(error?: Error): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#restarts.close()
    for (const slot of this.#services) slot.close()
    this.#provider.close()
    this.#narrator.close()
    // The keys stay read until the children are gone: a second Ctrl-C typed meanwhile must
    // reach requestStop as a key, not be left unread in a terminal given back too early.
    await Promise.all([this.#watcher?.close(), ...[...this.#children].map((child) => child.stop())])
    this.#giveTerminalBack()
    if (error) this.#fail(error)
    else this.#end('stopped')
  }

  #start(): void {
    const { view, watch, root, keys } = this.#options
    this.#restarts.startAll()
    if (watch) {
      this.#watcher = watchProject(root, (file) => this.#restarts.fileChanged(file))
      void this.#watcher.ready.then(() => {
        if (!this.#closing) view.gatekeep(`watching ${path.basename(root)} for changes`)
      })
    }
    this.#releaseKeys = keys({
      restart: () => void this.restart('r pressed'),
      // A provider that does not answer is told already.
      fire: () => void this.fire().catch(() => {}),
      quit: () => this.requestStop('q'),
      interrupt: () => this.requestStop('SIGINT'),
    })
    if (this.#releaseKeys) view.gatekeep('keys: r restart · f provider calls back now · q quit')
  }

  /** Kills every child now: a stop asked for twice does not wait for a grace period. */
  #force(): void {
    for (const child of this.#children) child.kill()
    this.#giveTerminalBack()
    this.#end('forced')
  }

  #giveTerminalBack(): void {
    this.#releaseKeys?.()
    this.#releaseKeys = null
  }

  #launch(source: Source, spec: LaunchSpec): DevChild {
    const { spawnChild, view, ignoredMessages } = this.#options
    const child = spawnChild({
      ...spec,
      onLine: (line) => view.child(source, line),
      onIgnored: (message) => ignoredMessages.note(source, message),
    })
    this.#children.add(child)
    void child.exited.then(() => this.#children.delete(child))
    return child
  }

  #publish(source: Source, event: ServiceEvent | DevEvent): void {
    const entry: FeedEvent = { ...event, source, at: Date.now() }
    const changesDevJson = entry.type === 'process-listening' || entry.type === 'process-stopping' || entry.type === 'process-exited'
    // dev.json first: whoever reads it upon a line of dev's must find it current.
    if (changesDevJson) this.#writeState()
    for (const subscriber of this.#subscribers) subscriber(entry)
    if (entry.type === 'process-exited' && source === 'provider') this.#restarts.providerExited(entry.exit)
  }

  /**
   * What a slot reports goes to the feed. A child that cannot listen at all (its port was taken
   * after dev checked it) ends dev, at once: a process may take a while to exit after failing
   * to listen, or not exit at all. `flag` is the one that moves its port.
   */
  #reporter(source: Source, url: string, flag: string): SlotReport {
    return (event) => {
      this.#publish(source, event)
      if (event.type !== 'listen-failed') return
      const { port } = new URL(url)
      const reason =
        event.code === 'EADDRINUSE' ? `port ${port} is already in use; stop what listens there or pass ${flag}` : `port ${port}: ${event.message}`
      void this.quit(new WorkError(`the ${source} cannot listen: ${reason}.`))
    }
  }

  #writeState(): void {
    if (!this.#closing) this.#options.stateFile.write(this.state)
  }
}
