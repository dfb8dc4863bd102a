import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { devStatePath, readDevState as readStateFile, type DevState } from '../../src/project/contract.js'
import { binPath, repoRoot, templateDir } from './gatekeep.js'

const SKIPPED = new Set(['node_modules', 'dist', '.env', '.gatekeep'])

/**
 * A runnable copy of the service template in `dir`, without an install: its node_modules is a link
 * to this repository's, which holds every dependency of the template (an npm workspace).
 */
export function makeDevProject(dir: string): string {
  cpSync(templateDir, dir, {
    recursive: true,
    filter: (source) => !SKIPPED.has(path.basename(source)) && !source.endsWith('.tsbuildinfo'),
  })
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  return dir
}

/**
 * Makes a project from `makeDevProject` one that `gatekeep init --store redis` would have made:
 * the store module swapped (the template holds both stores) and the store named in package.json.
 */
export function useRedisStore(root: string): void {
  const manifestPath = path.join(root, 'package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { gatekeep: Record<string, unknown> }
  manifest.gatekeep.store = 'redis'
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  writeFileSync(path.join(root, 'src', 'store', 'index.ts'), "export { createRedisStore as createStore } from './redis.js'\n")
}

/** The first of `count` consecutive ports nothing listens on right now. */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const first = await freePort()
    if (first + count - 1 > 65535) continue
    const rest = Array.from({ length: count - 1 }, (_, index) => first + 1 + index)
    if ((await Promise.all(rest.map(portIsFree))).every(Boolean)) return first
  }
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve)
    })
  } catch {
    return false
  }
  await new Promise((resolve) => server.close(resolve))
  return true
}

/** Resolves once the port can be bound; the kernel frees a killed process's ports a moment late. */
export async function waitUntilPortFree(port: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await portIsFree(port))) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

/** True while the process runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    if (existsSync('/proc/self/stat')) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
}

/** The processes whose parent is `pid` (dev's children: provider, service, standby). */
export function childPids(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid && fields[0] !== 'Z') children.push(Number(entry))
    } catch {
      // Exited meanwhile.
    }
  }
  return children
}

/** Resolves once none of `pids` runs; rejects naming the survivors after `timeoutMs`. */
export async function waitUntilGone(pids: readonly number[], timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const alive = pids.filter(isAlive)
    if (alive.length === 0) return
    if (Date.now() > deadline) throw new Error(`still running: ${alive.join(', ')}`)
    await sleep(50)
  }
}

/** The running session's dev.json, read as simulate-abort reads it; null when there is none. */
export function readDevState(root: string): DevState | null {
  return readStateFile(devStatePath(root))
}

/** Every process of the session dev.json names, dev included. */
export function statePids(state: DevState): number[] {
  return [state.pid, ...state.services.map((service) => service.pid), ...(state.provider ? [state.provider.pid] : [])]
}

export interface DevRun {
  child: ChildProcess
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string
  /** Resolves with the match once the output (after `from` characters) matches. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs `gatekeep dev` from the built CLI, without a TTY. */
export function startDev(args: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): DevRun {
  const childEnv: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...env }
  for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key]
  const child = spawn(process.execPath, [binPath, 'dev', ...args], { cwd, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  const waiters = new Set<() => void>()
  const onData = (chunk: string) => {
    output += chunk
    for (const check of waiters) check()
  }
  child.stdout.setEncoding('utf8').on('data', onData)
  child.stderr.setEncoding('utf8').on('data', onData)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  )
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs = 15_000, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`))
        }, timeoutMs)
        const check = () => {
          const match = pattern.exec(output.slice(from))
          if (!match) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(match)
        }
        waiters.add(check)
        check()
        void exited.then(() => setTimeout(() => {
          if (!waiters.has(check)) return
          clearTimeout(timer)
          waiters.delete(check)
          reject(new Error(`dev exited before ${pattern}; output:\n${output}`))
        }, 50))
      })
    },
  }
}

/** Saves `src/routes/health.ts` with a route answering `version`: new code to wait for. */
export function saveVersionRoute(root: string, version: number): void {
  const original = readFileSync(path.join(templateDir, 'src', 'routes', 'health.ts'), 'utf8')
  const route = `  fastify.get('/__version', async () => ({ version: ${version} }))\n}\n`
  writeFileSync(path.join(root, 'src', 'routes', 'health.ts'), original.replace(/\}\s*$/, route))
}

/** GET `/__version` from the service; null while it is down or still the old code. */
export async function fetchVersion(baseUrl: string): Promise<number | null> {
  try {
    const response = await fetch(`${baseUrl}/__version`)
    if (!response.ok) return null
    return ((await response.json()) as { version: number }).version
  } catch {
    return null
  }
}

export interface DevSession extends DevRun {
  root: string
  port: number
  providerPort: number
  baseUrl: string
  /** One per instance, in port order (baseUrl first). */
  baseUrls: string[]
  providerUrl: string
  /** dev and every process it has started so far (polled from /proc). */
  pids(): number[]
}

export interface DevSessionOptions {
  args?: readonly string[]
  /** Passed as --instances, on consecutive free ports. */
  instances?: number
  env?: Record<string, string | undefined>
  /** Changes the project before dev starts. */
  prepare?: (root: string) => void
}

/**
 * `gatekeep dev` in a fresh throwaway project on free ports. Whatever the test does, everything it
 * started is killed and the project removed when the test ends.
 */
export async function startDevSession(
  t: TestContext,
  { args = [], instances = 1, env = {}, prepare }: DevSessionOptions = {},
): Promise<DevSession> {
  const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'gatekeep-dev-')))
  const seen = new Set<number>()
  let run: DevRun | null = null
  const remember = () => {
    if (run?.child.pid) for (const pid of childPids(run.child.pid)) seen.add(pid)
  }
  const poller = setInterval(remember, 50)
  t.after(async () => {
    clearInterval(poller)
    remember()
    if (run && run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL')
      await run.exited
    }
    for (const pid of seen) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
    rmSync(root, { recursive: true, force: true })
  })
  makeDevProject(root)
  prepare?.(root)
  const port = await freePortRange(instances)
  let providerPort = await freePort()
  while (providerPort >= port && providerPort < port + instances) providerPort = await freePort()
  const instanceArgs = instances === 1 ? [] : ['--instances', String(instances)]
  const started = startDev(['--port', String(port), '--provider-port', String(providerPort), ...instanceArgs, ...args], root, env)
  run = started
  const baseUrls = Array.from({ length: instances }, (_, index) => `http://127.0.0.1:${port + index}`)
  return {
    ...started,
    root,
    port,
    providerPort,
    baseUrl: `http://127.0.0.1:${port}`,
    baseUrls,
    providerUrl: `http://127.0.0.1:${providerPort}`,
    pids: () => {
      remember()
      return [started.child.pid!, ...seen]
    },
  }
}

/** How many times `pattern` occurs in `text`. */
export function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, 'g'))].length
}

export interface TerminalDev {
  /** The screen so far, without ANSI sequences unless `raw`. */
  screen(raw?: boolean): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
  type(keys: string): void
  exited: Promise<number | null>
}

/**
 * `gatekeep dev` on a pseudo-terminal (util-linux `script`), for keys and colors. When the test
 * ends, the terminal is closed (dev gets SIGHUP) and whatever dev.json names is killed.
 */
export function startDevInTerminal(t: TestContext, root: string, args: readonly string[], env: Record<string, string> = {}): TerminalDev {
  const quoted = [process.execPath, binPath, 'dev', ...args].map((word) => `'${word}'`).join(' ')
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env }
  if (!('NO_COLOR' in env)) delete childEnv.NO_COLOR
  const child = spawn('script', ['--quiet', '--return', '--command', `stty cols 200 rows 50; exec ${quoted}`, '/dev/null'], {
    cwd: root,
    env: childEnv,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let screen = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  t.after(async () => {
    const state = readDevState(root)
    if (child.exitCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    for (const pid of state ? statePids(state) : []) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  })
  const plain = () => screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
  return {
    screen: (raw = false) => (raw ? screen : plain()),
    type: (keys) => child.stdin.write(keys),
    exited,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      while (!pattern.test(plain())) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} on screen:\n${plain()}`)
        await sleep(25)
      }
    },
  }
}
