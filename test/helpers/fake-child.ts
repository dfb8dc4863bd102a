import { setImmediate as nextTurn } from 'node:timers/promises'
import type { ChildExit, DevChild, LaunchSpec } from '../../src/dev/child.js'
import type { CommandName, Commands } from '../../src/dev/protocol.js'
import type { ServiceEvent } from '../../src/project/contract.js'

type Answers = { [N in CommandName]?: Commands[N]['result'] }

/**
 * A process as dev drives it (DevChild), with no process behind it: the test says when it
 * listens, what it publishes and when it exits, and reads what dev asked of it.
 */
export class FakeChild implements DevChild {
  readonly pid: number
  readonly spec: LaunchSpec
  readonly exited: Promise<ChildExit>
  readonly listening: Promise<string | null>
  /** The entry it imports: its spec's, or the one `start` named; null while it stands by. */
  entry: string | null
  /** What dev sent it, in order: SIGTERM for `stop`, SIGKILL for `kill`. */
  readonly signals: NodeJS.Signals[] = []
  readonly commands: { name: CommandName; request: unknown }[] = []
  /** The answer to each command; a command without one is refused. */
  answers: Answers = {}
  /** False: `stop` leaves it running until the test calls `exit` (a slow shutdown). */
  exitsWhenStopped = true
  #hasExited = false
  #resolveExited!: (exit: ChildExit) => void
  #resolveListening!: (url: string | null) => void

  constructor(spec: LaunchSpec, pid: number) {
    this.spec = spec
    this.pid = pid
    this.entry = spec.entry ?? null
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve))
    this.listening = new Promise((resolve) => (this.#resolveListening = resolve))
  }

  get hasExited(): boolean {
    return this.#hasExited
  }

  start(entry: string): void {
    this.entry = entry
  }

  command<N extends CommandName>(name: N, request: Commands[N]['request']): Promise<Commands[N]['result']> {
    this.commands.push({ name, request })
    const answer = this.answers[name]
    return answer === undefined ? Promise.reject(new Error(`no answer to ${name}`)) : Promise.resolve(answer as Commands[N]['result'])
  }

  stop(): Promise<ChildExit> {
    this.signals.push('SIGTERM')
    if (this.exitsWhenStopped) this.exit({ code: null, signal: 'SIGTERM' })
    return this.exited
  }

  kill(): void {
    this.signals.push('SIGKILL')
    this.exit({ code: null, signal: 'SIGKILL' })
  }

  /** Publishes `listening`, as a service does once its server listens. */
  listen(url = 'http://127.0.0.1:1'): void {
    this.publish({ type: 'listening', app: 1, url })
  }

  /** Publishes `event`, as the runner forwards it. */
  publish(event: ServiceEvent): void {
    if (event.type === 'listening') this.#resolveListening(event.url)
    this.spec.onEvent(event)
  }

  /** Ends the process; a second exit is none. */
  exit(exit: ChildExit = { code: 0, signal: null }): void {
    if (this.#hasExited) return
    this.#hasExited = true
    this.#resolveExited(exit)
    this.#resolveListening(null)
  }
}

/** Every FakeChild one test's code under test launched, in order. */
export class FakeChildren {
  readonly all: FakeChild[] = []
  #nextPid = 10_001

  /** A SpawnChild, and a slot's launch. */
  readonly spawn = (spec: LaunchSpec): FakeChild => {
    const child = new FakeChild(spec, this.#nextPid++)
    this.all.push(child)
    return child
  }

  /** The provider processes, oldest first. */
  providers(): FakeChild[] {
    return this.all.filter((child) => child.spec.role === 'provider')
  }

  /** Service processes that were told to import the entry and have not been told to stop. */
  instances(): FakeChild[] {
    return this.all.filter((child) => child.spec.role === 'service' && child.entry !== null && child.signals.length === 0 && !child.hasExited)
  }

  /** Service processes waiting warm for their go. */
  standbys(): FakeChild[] {
    return this.all.filter((child) => child.spec.role === 'service' && child.entry === null && !child.hasExited)
  }
}

/** Lets every promise callback that is due run: fake children settle without timers. */
export async function settle(): Promise<void> {
  await nextTurn()
}
