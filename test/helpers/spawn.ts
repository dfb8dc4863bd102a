import { spawn, type ChildProcess } from 'node:child_process'
import type { TestContext } from 'node:test'

// Every process a test starts goes through here: one way to pass the environment, to capture
// what it writes, to wait for a line, to run it on a terminal, and to leave nothing behind.

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Captured extends Exit {
  stdout: string
  stderr: string
}

export interface SpawnOptions {
  cwd: string
  /** Changes to this process's environment: a string sets the variable, `undefined` removes it. */
  env?: Record<string, string | undefined>
  /**
   * On a pseudo-terminal (util-linux `script`) instead of pipes, for keys and colors: its stdout
   * is then the screen. See terminal.ts for where there is one.
   */
  terminal?: boolean
  /** Its own process group, as a terminal's foreground job: `signal` reaches every process in it. */
  group?: boolean
  /** When this test ends, it is killed (its group too) if it still runs. */
  t?: TestContext
  /** Killed once it has run this long: for what could hang on the network (npm). */
  timeoutMs?: number
}

export interface Spawned {
  readonly child: ChildProcess
  /**
   * stdout and stderr as they came, interleaved. On a terminal, the screen, without ANSI
   * sequences and carriage returns unless `raw`.
   */
  output(raw?: boolean): string
  stdout(): string
  stderr(): string
  /**
   * Resolves with the match once the output after its first `from` characters matches; rejects,
   * showing the output, when the process exits first or after `timeoutMs`.
   */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>
  /** Writes to its stdin, which stays open until it exits: on a terminal, keys. */
  type(text: string): void
  /** To the process, or to its whole group when started with `group`; none once it is gone. */
  signal(signal: NodeJS.Signals): void
  /** Once it has exited and its output is closed; rejects when it could not start. */
  readonly exited: Promise<Exit>
  /** Its exit, with everything it wrote. */
  readonly result: Promise<Captured>
}

const TERMINAL_SIZE = { cols: 200, rows: 50 }
const ANSI_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g

/** `words` as one POSIX shell command line. */
function shellQuote(words: readonly string[]): string {
  return words.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ')
}

function childEnvironment(changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

/** Starts `command` and captures everything it writes. */
export function spawnCaptured(command: string, args: readonly string[], options: SpawnOptions): Spawned {
  const { cwd, env = {}, terminal = false, group = false, t, timeoutMs } = options
  const [file, argv] = terminal
    ? [
        'script',
        ['--quiet', '--return', '--command', `stty cols ${TERMINAL_SIZE.cols} rows ${TERMINAL_SIZE.rows}; exec ${shellQuote([command, ...args])}`, '/dev/null'],
      ]
    : [command, args]
  const child = spawn(file, argv, { cwd, env: childEnvironment(env), stdio: 'pipe', detached: group })

  let output = ''
  let stdout = ''
  let stderr = ''
  const onOutput = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    output += chunk
    for (const check of onOutput) check()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    output += chunk
    for (const check of onOutput) check()
  })
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      child.stdin.destroy()
      resolve({ code, signal })
    })
  })
  // A process that could not start has nothing to wait for: `exited` tells.
  const gone = exited.then(
    () => {},
    () => {},
  )

  const signal = (name: NodeJS.Signals) => {
    try {
      if (group && child.pid !== undefined) process.kill(-child.pid, name)
      else child.kill(name)
    } catch {
      // Gone already.
    }
  }
  const running = () => child.exitCode === null && child.signalCode === null
  if (timeoutMs !== undefined) {
    const timer = setTimeout(() => signal('SIGKILL'), timeoutMs)
    void gone.then(() => clearTimeout(timer))
  }
  t?.after(async () => {
    // A group outlives its leader: what the leader started may run on.
    if (group || running()) signal('SIGKILL')
    await gone
  })

  const result = exited.then((exit) => ({ ...exit, stdout, stderr }))
  // Whoever wants it awaits it; unread, a start that failed is told by `exited` alone.
  result.catch(() => {})

  const screen = (raw = false) => (terminal && !raw ? output.replace(ANSI_SEQUENCE, '').replace(/\r/g, '') : output)
  return {
    child,
    output: screen,
    stdout: () => stdout,
    stderr: () => stderr,
    type: (text) => void child.stdin.write(text),
    signal,
    exited,
    result,
    waitFor(pattern, waitMs = 15_000, from = 0) {
      return new Promise((resolve, reject) => {
        const finish = (settle: () => void) => {
          clearTimeout(timer)
          onOutput.delete(check)
          settle()
        }
        const check = () => {
          const match = pattern.exec(screen().slice(from))
          if (match) finish(() => resolve(match))
        }
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${waitMs} ms; output:\n${screen()}`))), waitMs)
        onOutput.add(check)
        check()
        void gone.then(() => {
          if (onOutput.has(check)) check()
          if (onOutput.has(check)) finish(() => reject(new Error(`it exited before ${pattern}; output:\n${screen()}`)))
        })
      })
    },
  }
}

/** Runs `command` to its end. */
export function runCaptured(command: string, args: readonly string[], options: SpawnOptions): Promise<Captured> {
  return spawnCaptured(command, args, options).result
}
