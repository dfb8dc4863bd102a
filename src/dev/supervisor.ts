import path from 'node:path'
import { WorkError } from '../errors.js'
import { CHANNEL_PREFIX, EVENTS_MODULE, PROVIDER_ENTRY, PROVIDER_ROUTES, SERVICE_ENTRY, type ServiceEvent } from '../project/contract.js'
import { interactive } from '../ui.js'
import { ChangeBatch } from './change-batch.js'
import { DevProcess, type ChildExit } from './child.js'
import type { IgnoredMessages } from './ignored-messages.js'
import { listenForKeys } from './keys.js'
import type { LogView, ServiceTag, Source } from './log-view.js'
import type { ChildRole } from './protocol.js'
import type { StateFile } from './state-file.js'
import type { Timeline } from './timeline.js'
import { watchProject, type ProjectWatcher } from './watcher.js'

/** Saves closer together than this are one change (a trailing debounce). */
const QUIET_MS = 100
/** The provider crashing this often within the window ends dev: restarting it is not helping. */
const PROVIDER_CRASH_LIMIT = 3
const PROVIDER_CRASH_WINDOW_MS = 10_000
/**
 * A child that has not said it listens this long after its start is reported (once; it keeps
 * its chance): a spawn takes well under a second, a cold one on a busy machine a few.
 */
const LISTEN_WAIT_MS = 5000
/** Only the mock provider's own files restart it; its client belongs to the service. */
const PROVIDER_FILE = /^src\/provider\/mock[^/]*\.[cm]?[jt]s$/

/** One instance of the service, on its own port. */
export interface ServiceInstanceOptions {
  tag: ServiceTag
  env: Record<string, string>
  url: string
  timeline: Timeline
}

export interface SupervisorOptions {
  root: string
  /** In port order; each restart restarts them all. */
  services: ServiceInstanceOptions[]
  providerEnv: Record<string, string>
  providerUrl: string
  watch: boolean
  view: LogView
  stateFile: StateFile
  ignoredMessages: IgnoredMessages
}

interface ServiceInstance extends ServiceInstanceOptions {
  process: DevProcess | null
  listening: boolean
  /** Its next process, warm: a restart is a go message, not a cold start. */
  standby: DevProcess | null
}

interface Restart {
  /** Restart the provider too (its file changed, or it crashed). */
  provider: boolean
  /** When the cause happened (a save, a key, dev's start), for "listening after N ms". */
  since: number
}

function describeExit({ code, signal }: ChildExit): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`
}

function portOf(url: string): number {
  return Number(new URL(url).port)
}

/**
 * Runs the provider and the service instances side by side and restarts them on changes. Each
 * instance's next process always waits ready (a warm standby), so a restart is a go message, not
 * a cold start. Restarts run one after the other through a queue; quitting bypasses it.
 */
export class Supervisor {
  readonly done: Promise<void>
  readonly #options: SupervisorOptions
  readonly #services: ServiceInstance[]
  /** "the service", or "the 3 services": what a restart restarts, in dev's lines. */
  readonly #servicesName: string
  #provider: DevProcess | null = null
  #providerListening = false
  #providerCrashes: number[] = []
  /** Every process started and not yet exited, whatever its role now. */
  readonly #children = new Set<DevProcess>()
  /** Old processes already told to stop, at the first change of a batch. */
  #stopping: Promise<unknown>[] = []
  #queue: Promise<void> = Promise.resolve()
  #queued = 0
  #closing = false
  #batchTouchesProvider = false
  #lastChangeAt = 0
  readonly #batch: ChangeBatch
  #watcher: ProjectWatcher | null = null
  #releaseKeys: () => void = () => {}
  #finish!: (error?: Error) => void

  constructor(options: SupervisorOptions) {
    this.#options = options
    this.#services = options.services.map((service) => ({ ...service, process: null, listening: false, standby: null }))
    this.#servicesName = this.#services.length === 1 ? 'the service' : `the ${this.#services.length} services`
    this.done = new Promise((resolve, reject) => {
      this.#finish = (error) => (error ? reject(error) : resolve())
    })
    this.#batch = new ChangeBatch(QUIET_MS, (files) => this.#onBatchSettled(files))
  }

  start(): void {
    const { view, watch, root } = this.#options
    for (const service of this.#services) service.standby = this.#spawnService(service)
    // performance.now() counts from dev's own start: the first "listening after" includes it.
    this.#enqueue({ provider: true, since: 0 })
    if (watch) {
      this.#watcher = watchProject(root, (file) => this.#onChange(file))
      void this.#watcher.ready.then(() => {
        if (!this.#closing) view.gatekeep(`watching ${path.basename(root)} for changes`)
      })
    }
    this.#releaseKeys = listenForKeys({
      restart: () => this.restart('r pressed'),
      callBackNow: () => void this.#callBackNow(),
      quit: () => void this.quit(),
      interrupt: () => process.kill(process.pid, 'SIGINT'),
    })
    if (interactive()) view.gatekeep('keys: r restart · f provider calls back now · q quit')
  }

  restart(reason: string): void {
    if (this.#closing) return
    this.#options.view.gatekeep(`restarting ${this.#servicesName}: ${reason}`)
    this.#enqueue({ provider: false, since: performance.now() })
  }

  /** Stops every child gracefully (SIGTERM, then SIGKILL), removes dev.json, settles `done`. */
  async quit(error?: Error): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#batch.cancel()
    for (const service of this.#services) service.timeline.stop()
    this.#releaseKeys()
    await Promise.all([this.#watcher?.close(), ...[...this.#children].map((child) => child.stop())])
    this.#options.stateFile.remove()
    this.#finish(error)
  }

  /** A second Ctrl-C: SIGKILL everything now. */
  kill(): void {
    for (const child of this.#children) child.kill()
    this.#options.stateFile.remove()
  }

  #onChange(file: string): void {
    if (this.#closing) return
    const providerFile = PROVIDER_FILE.test(file)
    this.#lastChangeAt = performance.now()
    if (this.#batch.add(file)) {
      this.#options.view.gatekeep(`${file} changed: restarting ${providerFile ? `the provider and ${this.#servicesName}` : this.#servicesName}`)
    }
    this.#batchTouchesProvider ||= providerFile
    // Whatever else comes, the batch restarts these: stopping them now overlaps their shutdown
    // with the debounce instead of adding it to the restart. Not while a restart is under way:
    // the queued one stops what that one starts.
    if (this.#queued === 0) {
      this.#stopServices()
      if (providerFile) this.#stopProvider()
    }
  }

  #onBatchSettled(files: string[]): void {
    if (files.includes('package.json')) {
      // Its dependencies may have changed: the standbys loaded the old ones.
      for (const service of this.#services) {
        void service.standby?.stop()
        service.standby = null
      }
    }
    this.#enqueue({ provider: this.#batchTouchesProvider, since: this.#lastChangeAt })
    this.#batchTouchesProvider = false
  }

  #enqueue(restart: Restart): void {
    this.#queued += 1
    this.#queue = this.#queue
      .then(() => this.#restart(restart))
      .finally(() => {
        this.#queued -= 1
      })
  }

  async #restart({ provider, since }: Restart): Promise<void> {
    if (this.#closing) return
    this.#stopServices()
    if (provider) this.#stopProvider()
    const stopping = this.#stopping
    this.#stopping = []
    // The new instances listen only once the old ones have exited, so their ports are free.
    await Promise.all(stopping)
    if (this.#closing) return

    if (!this.#provider) {
      const child = this.#spawnProvider(since)
      if (!(await child.listening) || this.#closing) return // Its exit handler decides what next.
    }
    const started = this.#services.map((service) => this.#startService(service, since))
    // Standbys are warmed only once every instance has taken over, not to slow down their start.
    void Promise.all(started).then(() => {
      for (const service of this.#services) {
        if (!this.#closing && service.standby === null) service.standby = this.#spawnService(service)
      }
    })
  }

  /** Its standby becomes the instance; resolves once it listens or has exited. */
  #startService(service: ServiceInstance, since: number): Promise<void> {
    const child = service.standby ?? this.#spawnService(service)
    service.standby = null
    service.process = child
    child.start(path.join(this.#options.root, SERVICE_ENTRY))
    this.#warnIfSilent(child, service.tag)
    return child.listening.then((url) => {
      if (!url || service.process !== child) return
      service.listening = true
      this.#writeState()
      this.#options.view.gatekeep(`${service.tag} listening on ${service.url} after ${Math.round(performance.now() - since)} ms`)
    })
  }

  #stopServices(): void {
    let stopped = false
    for (const service of this.#services) {
      const child = service.process
      if (!child) continue
      service.process = null
      service.listening = false
      service.timeline.stop()
      this.#stopping.push(child.stop())
      stopped = true
    }
    if (stopped) this.#writeState()
  }

  #stopProvider(): void {
    const child = this.#provider
    if (!child) return
    this.#provider = null
    this.#providerListening = false
    this.#writeState()
    this.#stopping.push(child.stop())
  }

  #spawnService(service: ServiceInstance): DevProcess {
    const { view } = this.#options
    const child = this.#spawn(service.env, service.tag, 'service', null, (event) => {
      if (service.process !== child) return
      if (event.type === 'listen-failed') this.#fail(service.tag, portOf(service.url), '--port', event)
      else service.timeline.observe(event)
    })
    void child.exited.then((exit) => {
      if (service.standby === child) service.standby = null
      if (service.process !== child) return
      service.process = null
      service.listening = false
      service.timeline.stop()
      this.#writeState()
      if (this.#closing || child.stopRequested) return
      view.warn(`the ${service.tag} ${describeExit(exit)}; waiting for a change to restart it`)
    })
    return child
  }

  #spawnProvider(since: number): DevProcess {
    const { root, providerEnv, providerUrl, view } = this.#options
    const child = this.#spawn(providerEnv, 'provider', 'provider', path.join(root, PROVIDER_ENTRY), (event) => {
      if (event.type === 'listen-failed' && this.#provider === child) this.#fail('provider', portOf(providerUrl), '--provider-port', event)
    })
    this.#provider = child
    this.#warnIfSilent(child, 'provider')
    void child.listening.then((url) => {
      if (!url || this.#provider !== child) return
      this.#providerListening = true
      this.#writeState()
      view.gatekeep(`provider listening on ${providerUrl} after ${Math.round(performance.now() - since)} ms`)
    })
    void child.exited.then((exit) => {
      if (this.#provider !== child) return
      this.#provider = null
      this.#providerListening = false
      this.#writeState()
      if (this.#closing || child.stopRequested) return
      const now = performance.now()
      this.#providerCrashes = [...this.#providerCrashes.filter((at) => now - at < PROVIDER_CRASH_WINDOW_MS), now]
      if (this.#providerCrashes.length >= PROVIDER_CRASH_LIMIT) {
        void this.quit(
          new WorkError(`the provider crashed ${PROVIDER_CRASH_LIMIT} times within ${PROVIDER_CRASH_WINDOW_MS / 1000} s; see its output above.`),
        )
        return
      }
      // The service restarts with it: its handshake was with the provider that is gone.
      view.warn(`the provider ${describeExit(exit)}; restarting it and ${this.#servicesName}`)
      this.#enqueue({ provider: true, since: now })
    })
    return child
  }

  /** Without an entry, a standby. `onEvent` gets every event it publishes. */
  #spawn(env: Record<string, string>, source: Source, role: ChildRole, entry: string | null, onEvent: (event: ServiceEvent) => void): DevProcess {
    const { root, view, ignoredMessages } = this.#options
    const child = new DevProcess({
      root,
      env,
      role,
      entry: entry ?? undefined,
      onLine: (line) => view.child(source, line),
      onEvent,
      onIgnored: (message) => ignoredMessages.note(source, message),
    })
    this.#children.add(child)
    void child.exited.then(() => this.#children.delete(child))
    return child
  }

  /** Says once that `child` has not told it listens by now; it keeps running, and may yet. */
  #warnIfSilent(child: DevProcess, source: Source): void {
    const timer = setTimeout(() => {
      if (this.#closing) return
      const waitS = LISTEN_WAIT_MS / 1000
      this.#options.view.warn(
        source === 'provider'
          ? `the provider is not listening ${waitS} s after its start; still waiting`
          : `${source}: no "listening" event ${waitS} s after its start; still waiting (the service publishes it on ${CHANNEL_PREFIX}listening, see ${EVENTS_MODULE})`,
      )
    }, LISTEN_WAIT_MS)
    // Settled by its listening event, or by its exit: either way there is nothing left to wait for.
    void child.listening.then(() => clearTimeout(timer))
  }

  /**
   * A child that cannot listen at all (its port was taken after dev checked it) ends dev, at
   * once: a process may take a while to exit after failing to listen, or not exit at all.
   */
  #fail(source: Source, port: number, flag: string, failure: ServiceEvent<'listen-failed'>): void {
    const reason =
      failure.code === 'EADDRINUSE' ? `port ${port} is already in use; stop what listens there or pass ${flag}` : `port ${port}: ${failure.message}`
    void this.quit(new WorkError(`the ${source} cannot listen: ${reason}.`))
  }

  async #callBackNow(): Promise<void> {
    const { view, providerUrl } = this.#options
    try {
      const response = await fetch(`${providerUrl}${PROVIDER_ROUTES.callbackNow}`, { method: 'POST' })
      const { delivering } = (await response.json()) as { delivering: number }
      view.gatekeep(delivering > 0 ? `the provider calls back now (${delivering} pending)` : 'no callback is pending at the provider')
    } catch (error) {
      view.warn(`the provider did not answer: ${(error as Error).message}`)
    }
  }

  #writeState(): void {
    if (this.#closing) return
    const { stateFile, providerUrl } = this.#options
    stateFile.write({
      pid: process.pid,
      services: this.#services.flatMap((service) => (service.process && service.listening ? [{ url: service.url, pid: service.process.pid }] : [])),
      provider: this.#provider && this.#providerListening ? { url: providerUrl, pid: this.#provider.pid } : null,
    })
  }
}
