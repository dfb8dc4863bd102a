import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { parseLogRecord, type LogRecord } from './log-view.js'
import type { RunnerMessage } from './protocol.js'

const RUNNER_PATH = fileURLToPath(new URL('./runner.js', import.meta.url))

/** How long a child gets to close by itself after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 3000

const LISTENING = /^Server listening at (\S+)/

export interface ChildExit {
  code: number | null
  signal: string | null
}

export interface DevProcessOptions {
  root: string
  env: Record<string, string>
  /** Import it at once; without, the process waits warm for `start`. */
  entry?: string
  /** Every line it writes, with its pino record when it is one. */
  onLine(line: string, record: LogRecord | null): void
}

function spawnRunner({ root, env, entry }: DevProcessOptions) {
  return execa(process.execPath, ['--import', 'tsx', RUNNER_PATH, ...(entry ? [entry] : [])], {
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

/**
 * One `node --import tsx runner.js` process: the provider or the service, or a standby that has
 * loaded tsx and the project's dependencies and becomes the service when `start` names the entry.
 */
export class DevProcess {
  readonly pid: number
  readonly exited: Promise<ChildExit>
  /** Its URL once it logs that it listens; null when it exits first. */
  readonly listening: Promise<string | null>
  /** Set when it logged that it cannot listen (a taken port). */
  listenFailure: LogRecord | null = null
  #stopRequested = false
  readonly #subprocess: ReturnType<typeof spawnRunner>

  constructor(options: DevProcessOptions) {
    this.#subprocess = spawnRunner(options)
    // Without a pid the spawn itself failed; `exited` reports it.
    this.pid = this.#subprocess.pid ?? 0
    this.exited = this.#subprocess.then((result) => ({ code: result.exitCode ?? null, signal: result.signal ?? null }))

    let resolveListening!: (url: string | null) => void
    this.listening = new Promise((resolve) => (resolveListening = resolve))
    void this.exited.then(() => resolveListening(null))

    createInterface({ input: this.#subprocess.stdout }).on('line', (line) => {
      const record = parseLogRecord(line)
      const url = record?.msg === undefined ? null : LISTENING.exec(record.msg)?.[1]
      if (url) resolveListening(url)
      if (record?.event === 'listen-failed') this.listenFailure = record
      options.onLine(line, record)
    })
    createInterface({ input: this.#subprocess.stderr }).on('line', (line) => options.onLine(line, null))
  }

  /** True once `stop` was called: its exit is no crash. */
  get stopRequested(): boolean {
    return this.#stopRequested
  }

  start(entry: string): void {
    const message: RunnerMessage = { type: 'start', entry }
    // A process that already died rejects this; `exited` tells the story.
    this.#subprocess.sendMessage(message).catch(() => {})
  }

  /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves once it has exited. */
  stop(): Promise<ChildExit> {
    this.#stopRequested = true
    this.#subprocess.kill('SIGTERM')
    return this.exited
  }

  /** SIGKILL at once: a second Ctrl-C. */
  kill(): void {
    this.#stopRequested = true
    this.#subprocess.kill('SIGKILL')
  }
}
