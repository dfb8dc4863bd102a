import path from 'node:path'
import { WorkError } from '../errors.js'
import { interactive } from '../ui.js'
import { ChangeBatch } from './change-batch.js'
import { DevProcess, type ChildExit } from './child.js'
import { listenForKeys } from './keys.js'
import type { LogView, Source } from './log-view.js'
import type { StateFile } from './state-file.js'
import type { Timeline } from './timeline.js'
import { watchProject, type ProjectWatcher } from './watcher.js'

export const SERVICE_ENTRY = 'src/server.ts'
export const PROVIDER_ENTRY = 'src/provider/mock-server.ts'

/** Saves closer together than this are one change (a trailing debounce). */
const QUIET_MS = 100
/** The provider crashing this often within the window ends dev: restarting it is not helping. */
const PROVIDER_CRASH_LIMIT = 3
const PROVIDER_CRASH_WINDOW_MS = 10_000
/** Only the mock provider's own files restart it; its client belongs to the service. */
const PROVIDER_FILE = /^src\/provider\/mock[^/]*\.[cm]?[jt]s$/

export interface SupervisorOptions {
  root: string
  serviceEnv: Record<string, string>
  providerEnv: Record<string, string>
  serviceUrl: string
  providerUrl: string
  watch: boolean
  view: LogView
  timeline: Timeline
  stateFile: StateFile
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

/**
 * Runs the provider and the service side by side and restarts them on changes. The next service
 * process always waits ready (a warm standby), so a restart is a go message, not a cold start.
 * Restarts run one after the other through a queue; quitting bypasses it.
 */
export class Supervisor {
  readonly done: Promise<void>
  readonly #options: SupervisorOptions
  #service: DevProcess | null = null
  #serviceListening = false
  #standby: DevProcess | null = null
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
    this.done = new Promise((resolve, reject) => {
      this.#finish = (error) => (error ? reject(error) : resolve())
    })
    this.#batch = new ChangeBatch(QUIET_MS, (files) => this.#onBatchSettled(files))
  }

  start(): void {
    const { view, watch, root } = this.#options
    this.#standby = this.#spawnService()
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
    this.#options.view.gatekeep(`restarting the service: ${reason}`)
    this.#enqueue({ provider: false, since: performance.now() })
  }

  /** Stops every child gracefully (SIGTERM, then SIGKILL), removes dev.json, settles `done`. */
  async quit(error?: Error): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#batch.cancel()
    this.#options.timeline.stop()
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
      this.#options.view.gatekeep(`${file} changed: restarting the ${providerFile ? 'provider and the service' : 'service'}`)
    }
    this.#batchTouchesProvider ||= providerFile
    // Whatever else comes, the batch restarts these: stopping them now overlaps their shutdown
    // with the debounce instead of adding it to the restart. Not while a restart is under way:
    // the queued one stops what that one starts.
    if (this.#queued === 0) {
      this.#stopService()
      if (providerFile) this.#stopProvider()
    }
  }

  #onBatchSettled(files: string[]): void {
    if (files.includes('package.json')) {
      // Its dependencies may have changed: the standby loaded the old ones.
      void this.#standby?.stop()
      this.#standby = null
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
    this.#stopService()
    if (provider) this.#stopProvider()
    const stopping = this.#stopping
    this.#stopping = []
    // The new service listens only once the old one has exited, so its port is free.
    await Promise.all(stopping)
    if (this.#closing) return

    if (!this.#provider) {
      const child = this.#spawnProvider(since)
      if (!(await child.listening) || this.#closing) return // Its exit handler decides what next.
    }
    const child = this.#standby ?? this.#spawnService()
    this.#standby = null
    this.#service = child
    child.start(path.join(this.#options.root, SERVICE_ENTRY))
    void child.listening.then((url) => {
      if (url && this.#service === child) {
        this.#serviceListening = true
        this.#writeState()
        this.#options.view.gatekeep(`service listening on ${this.#options.serviceUrl} after ${Math.round(performance.now() - since)} ms`)
      }
      // Warmed only now, not to slow down the start of the one that just took over.
      if (!this.#closing && this.#standby === null) this.#standby = this.#spawnService()
    })
  }

  #stopService(): void {
    const child = this.#service
    if (!child) return
    this.#service = null
    this.#serviceListening = false
    this.#options.timeline.stop()
    this.#writeState()
    this.#stopping.push(child.stop())
  }

  #stopProvider(): void {
    const child = this.#provider
    if (!child) return
    this.#provider = null
    this.#providerListening = false
    this.#writeState()
    this.#stopping.push(child.stop())
  }

  #spawnService(): DevProcess {
    const { serviceEnv, view, timeline } = this.#options
    const child = this.#spawn(serviceEnv, 'service')
    void child.exited.then((exit) => {
      if (this.#standby === child) this.#standby = null
      if (this.#service !== child) return
      this.#service = null
      this.#serviceListening = false
      timeline.stop()
      this.#writeState()
      if (this.#closing || child.stopRequested) return
      if (child.listenFailure) {
        this.#fail('service', child)
      } else {
        view.warn(`the service ${describeExit(exit)}; waiting for a change to restart it`)
      }
    })
    return child
  }

  #spawnProvider(since: number): DevProcess {
    const { root, providerEnv, providerUrl, view } = this.#options
    const child = this.#spawn(providerEnv, 'provider', path.join(root, PROVIDER_ENTRY))
    this.#provider = child
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
      if (child.listenFailure) {
        this.#fail('provider', child)
        return
      }
      const now = performance.now()
      this.#providerCrashes = [...this.#providerCrashes.filter((at) => now - at < PROVIDER_CRASH_WINDOW_MS), now]
      if (this.#providerCrashes.length >= PROVIDER_CRASH_LIMIT) {
        void this.quit(
          new WorkError(`the provider crashed ${PROVIDER_CRASH_LIMIT} times within ${PROVIDER_CRASH_WINDOW_MS / 1000} s; see its output above.`),
        )
        return
      }
      // The service restarts with it: its handshake was with the provider that is gone.
      view.warn(`the provider ${describeExit(exit)}; restarting it and the service`)
      this.#enqueue({ provider: true, since: now })
    })
    return child
  }

  #spawn(env: Record<string, string>, source: 'service' | 'provider', entry?: string): DevProcess {
    const { root, view, timeline } = this.#options
    const child: DevProcess = new DevProcess({
      root,
      env,
      entry,
      onLine: (line, record) => {
        view.child(source, line, record)
        if (record && this.#service === child) timeline.observe(record)
      },
    })
    this.#children.add(child)
    void child.exited.then(() => this.#children.delete(child))
    return child
  }

  /** A child that cannot listen at all (its port was taken after dev checked it) ends dev. */
  #fail(source: Source, child: DevProcess): void {
    const reason = String(child.listenFailure?.msg ?? 'it could not listen')
    void this.quit(new WorkError(`the ${source} cannot start: ${reason}`))
  }

  async #callBackNow(): Promise<void> {
    const { view, providerUrl } = this.#options
    try {
      const response = await fetch(`${providerUrl}/__provider/callback-now`, { method: 'POST' })
      const { delivering } = (await response.json()) as { delivering: number }
      view.gatekeep(delivering > 0 ? `the provider calls back now (${delivering} pending)` : 'no callback is pending at the provider')
    } catch (error) {
      view.warn(`the provider did not answer: ${(error as Error).message}`)
    }
  }

  #writeState(): void {
    if (this.#closing) return
    const { stateFile, serviceUrl, providerUrl } = this.#options
    stateFile.write({
      pid: process.pid,
      services: this.#service && this.#serviceListening ? [{ url: serviceUrl, pid: this.#service.pid }] : [],
      provider: this.#provider && this.#providerListening ? { url: providerUrl, pid: this.#provider.pid } : null,
    })
  }
}
