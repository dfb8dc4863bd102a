import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { devStatePath, readDevState, type DevState } from '../../src/project/contract.js'
import { repoRoot, startGatekeep, templateDir } from './gatekeep.js'
import { freePort, freePortRange } from './ports.js'
import type { Spawned } from './spawn.js'

// ports.ts reserves the ports; bench/ and the console's tests still import this one from here.
export { freePort } from './ports.js'

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

/** The project's dev.json, read through the contract as simulate-abort reads it; null when there is none. */
export function readDevStateIn(root: string): DevState | null {
  return readDevState(devStatePath(root))
}

/** Every process of the session dev.json names, dev included. */
function statePids(state: DevState): number[] {
  return [state.pid, ...state.services.map((service) => service.pid), ...(state.provider ? [state.provider.pid] : [])]
}

/** Runs `gatekeep dev` from the built CLI, without a TTY. */
export function startDev(args: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Spawned {
  return startGatekeep(['dev', ...args], { cwd, env })
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

export interface DevSession extends Spawned {
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
  let run: Spawned | null = null
  const remember = () => {
    if (run?.child.pid) for (const pid of childPids(run.child.pid)) seen.add(pid)
  }
  const poller = setInterval(remember, 50)
  t.after(async () => {
    clearInterval(poller)
    remember()
    run?.signal('SIGKILL')
    await run?.exited
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
  const providerPort = await freePort()
  const instanceArgs = instances === 1 ? [] : ['--instances', String(instances)]
  // Reserved like the others: its default, the provider's port + 1, may be another test's.
  const consoleArgs = args.includes('--console-port') || args.includes('--no-console') ? [] : ['--console-port', String(await freePort())]
  const started = startDev(['--port', String(port), '--provider-port', String(providerPort), ...instanceArgs, ...consoleArgs, ...args], root, env)
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

/**
 * `gatekeep dev` on a pseudo-terminal, for keys and colors (on unless `env` sets NO_COLOR). When
 * the test ends, whatever dev.json names is killed, then the terminal is closed.
 */
export function startDevInTerminal(t: TestContext, root: string, args: readonly string[], env: Record<string, string> = {}): Spawned {
  // Registered first, so it runs while dev.json still names them.
  t.after(() => {
    const state = readDevStateIn(root)
    for (const pid of state ? statePids(state) : []) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  })
  // The console's default port (the provider's + 1) is reserved by no one here: off unless asked for.
  const consoleArgs = args.includes('--console-port') || args.includes('--no-console') ? [] : ['--no-console']
  return startGatekeep(['dev', ...consoleArgs, ...args], { cwd: root, env: { NO_COLOR: undefined, ...env }, terminal: true, t })
}
