import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { parseServiceEvent, type ServiceEvent } from '../project/contract.js'
import type { ChildRole, CommandMessage, CommandName, Commands, RunnerMessage } from './protocol.js'

const RUNNER_PATH = fileURLToPath(new URL('./runner.js', import.meta.url))

/** How long a child gets to close by itself after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 3000
/** How long a command may take: each is a lookup or one store call inside the service. */
const COMMAND_TIMEOUT_MS = 5000

export interface ChildExit {
  code: number | null
  signal: string | null
}

/** What a slot asks for: a process in a role, and where its events go. */
export interface LaunchSpec {
  env: Record<string, string>
  role: ChildRole
  /** Import it at once; without, the process waits warm for `start`. */
  entry?: string
  /** Every event it publishes that matches the vocabulary. */
  onEvent(event: ServiceEvent): void
}

/** A launch as the session completes it: where the process's output and stray messages go. */
export interface ChildSpec extends LaunchSpec {
  /** Every line it writes, for the terminal. */
  onLine(line: string): void
  /** A message from it that matches no event: ignored, but counted and shown. */
  onIgnored(message: unknown): void
}

export interface DevProcessOptions extends ChildSpec {
  root: string
}

/**
 * What dev drives a process through; DevProcess is the real one. Its events come through the
 * `onEvent` of its spec.
 */
export interface DevChild {
  readonly pid: number
  readonly exited: Promise<ChildExit>
  /** The URL of its `listening` event; null when it exits first. */
  readonly listening: Promise<string | null>
  /** Import the service's entry: a standby becomes the service. */
  start(entry: string): void
  command<N extends CommandName>(name: N, request: Commands[N]['request']): Promise<Commands[N]['result']>
  /** SIGTERM, then SIGKILL if it lingers; resolves once it has exited. */
  stop(): Promise<ChildExit>
  /** SIGKILL at once. */
  kill(): void
}

export type SpawnChild = (spec: ChildSpec) => DevChild

/**
 * A child that has not said it listens this long after its start is reported (once; it keeps
 * its chance): a spawn takes well under a second, a cold one on a busy machine a few.
 */
export const LISTEN_WAIT_MS = 5000

/** Calls `onSilent` once if `child` has neither listened nor exited within LISTEN_WAIT_MS. */
export function whenSilent(child: DevChild, onSilent: () => void): void {
  const timer = setTimeout(onSilent, LISTEN_WAIT_MS)
  // Settled by its listening event, or by its exit: either way there is nothing left to wait for.
  void child.listening.then(() => clearTimeout(timer))
}

function spawnRunner({ root, env, role, entry }: DevProcessOptions) {
  return execa(process.execPath, ['--import', 'tsx', RUNNER_PATH, role, ...(entry ? [entry] : [])], {
    cwd: root,
    env,
    extendEnv: false,
    ipc: true,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    // Its own process group: a Ctrl-C in the terminal reaches dev alone, which then stops its
    // children once, gracefully, instead of each of them receiving it too.
    detached: true,
    forceKillAfterDelay: STOP_TIMEOUT_MS,
  })
}

interface PendingCommand {
  resolve(result: unknown): void
  reject(error: Error): void
}

/**
 * One `node --import tsx runner.js` process: the provider or the service, or a standby that has
 * loaded tsx and the project's dependencies and becomes the service when `start` names the entry.
 * What it does reaches dev as typed events over IPC, never through its output.
 */
export class DevProcess implements DevChild {
  readonly pid: number
  readonly exited: Promise<ChildExit>
  readonly listening: Promise<string | null>
  #lastCommandId = 0
  readonly #pending = new Map<number, PendingCommand>()
  readonly #subprocess: ReturnType<typeof spawnRunner>

  constructor(options: DevProcessOptions) {
    const subprocess = spawnRunner(options)
    this.#subprocess = subprocess
    // Without a pid the spawn itself failed; `exited` reports it.
    this.pid = subprocess.pid ?? 0
    this.exited = subprocess.then((result) => ({ code: result.exitCode ?? null, signal: result.signal ?? null }))

    let resolveListening!: (url: string | null) => void
    this.listening = new Promise((resolve) => (resolveListening = resolve))
    void this.exited.then(() => {
      resolveListening(null)
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id)
        pending.reject(new Error('it exited before answering'))
      }
    })

    const onMessage = (message: unknown) => {
      const { type, event: published } = (message ?? {}) as { type?: unknown; event?: unknown }
      if (type === 'reply') {
        this.#settle(message)
        return
      }
      const event = type === 'event' ? parseServiceEvent(published) : null
      if (event === null) {
        // An event message is shown by its event: the envelope is dev's own.
        options.onIgnored(type === 'event' ? published : message)
        return
      }
      if (event.type === 'listening') resolveListening(event.url)
      options.onEvent(event)
    }
    void (async () => {
      // Ends when the channel closes, with the process.
      for await (const message of subprocess.getEachMessage({ reference: false })) onMessage(message)
    })().catch(() => {
      // A process that failed to spawn has no channel; `exited` tells the story.
    })

    createInterface({ input: subprocess.stdout }).on('line', (line) => options.onLine(line))
    createInterface({ input: subprocess.stderr }).on('line', (line) => options.onLine(line))
  }

  start(entry: string): void {
    // A process that already died cannot take it; `exited` tells the story.
    this.#send({ type: 'start', entry }, () => {})
  }

  /**
   * Asks the service to do `name`; resolves with its answer, rejects with its reason (or when it
   * exits first, or takes longer than COMMAND_TIMEOUT_MS).
   */
  command<N extends CommandName>(name: N, request: Commands[N]['request']): Promise<Commands[N]['result']> {
    const id = ++this.#lastCommandId
    return new Promise<Commands[N]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`no answer within ${COMMAND_TIMEOUT_MS / 1000} s`))
      }, COMMAND_TIMEOUT_MS)
      this.#pending.set(id, {
        resolve: (result) => {
          clearTimeout(timer)
          resolve(result as Commands[N]['result'])
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.#send({ ...request, type: name, id } as CommandMessage, () => this.#settle({ id, error: 'it is not running' }))
    })
  }

  /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves once it has exited. */
  stop(): Promise<ChildExit> {
    this.#subprocess.kill('SIGTERM')
    return this.exited
  }

  /** SIGKILL at once: a forced stop. */
  kill(): void {
    this.#subprocess.kill('SIGKILL')
  }

  /** `onUndelivered` runs when it cannot be sent: the process has exited, or is exiting. */
  #send(message: RunnerMessage, onUndelivered: () => void): void {
    try {
      this.#subprocess.sendMessage(message).catch(onUndelivered)
    } catch {
      onUndelivered()
    }
  }

  #settle(message: unknown): void {
    const reply = message as { id?: unknown; result?: unknown; error?: unknown }
    const pending = typeof reply.id === 'number' ? this.#pending.get(reply.id) : undefined
    if (pending === undefined) return
    this.#pending.delete(reply.id as number)
    if (typeof reply.error === 'string') pending.reject(new Error(reply.error))
    else pending.resolve(reply.result)
  }
}
