// The generated service as a real child process, shut down under load and timed at its
// provider's timeout: the figures of DESIGN section 5 that only a real process shows.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { keepAliveLoad, type LoadOutcome } from '../templates/service/test/keep-alive-load.js'
import { freePort } from '../test/helpers/dev.js'

const TSX = import.meta.resolve('tsx')
const SERVICE = new URL('../templates/service/src/server.ts', import.meta.url).pathname
const PROVIDER = new URL('../templates/service/src/provider/mock-server.ts', import.meta.url).pathname

interface Child {
  process: ChildProcess
  lines: string[]
  exited: Promise<number | null>
}

/** Runs an entry in `cwd`, an empty directory: no project settings or `.env` of ours leak in. */
function run(entry: string, cwd: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', TSX, entry], {
    cwd,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + String(chunk)).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts.filter(Boolean))
  })
  return { process: child, lines, exited: once(child, 'exit').then(([code]) => code as number | null) }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function stop(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL')
  await child.exited
}

/** A provider and a service whose gate is open, stopped by `use`'s end whatever happens. */
async function withPair<T>(
  serviceEnv: Record<string, string>,
  providerEnv: Record<string, string>,
  use: (service: Child, url: string) => Promise<T>,
): Promise<T> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const [servicePort, providerPort] = [await freePort(), await freePort()]
  const cwd = await mkdtemp(join(tmpdir(), 'gatekeep-bench-'))
  const provider = run(PROVIDER, cwd, { WEBHOOK_SECRET: secret, PROVIDER_PORT: String(providerPort), PROVIDER_DELAY_MS: '50', ...providerEnv })
  const service = run(SERVICE, cwd, {
    WEBHOOK_SECRET: secret,
    PORT: String(servicePort),
    PROVIDER_URL: `http://127.0.0.1:${providerPort}`,
    GATE_NAMESPACE: `gatekeep-bench-${randomUUID()}`,
    ...serviceEnv,
  })
  const url = `http://127.0.0.1:${servicePort}`
  try {
    await until(async () => {
      const response = await request(`${url}/health/ready`).catch(() => null)
      await response?.body.dump()
      return response?.statusCode === 200
    }, 'the gate to open')
    return await use(service, url)
  } finally {
    await Promise.all([stop(service), stop(provider)])
    await rm(cwd, { recursive: true, force: true })
  }
}

export interface ShutdownRound extends LoadOutcome {
  /** Resets of requests the service had read (a log line carries their id): each one a bug. */
  resetsOfReadRequests: number
  exitCode: number | null
}

/** One round: `connections` keep-alive clients looping on /v1/data, SIGTERM after `loadMs`. */
async function shutdownRound(connections: number, drainMs: number, loadMs: number): Promise<ShutdownRound> {
  // RATE_LIMIT=off: the load comes from one address, far past any rate limit.
  return withPair({ SHUTDOWN_DRAIN_MS: String(drainMs), RATE_LIMIT: 'off' }, { PROVIDER_LATENCY_MS: '5' }, async (service, url) => {
    let begun = false
    const idPrefix = `bench-${randomUUID()}`
    const load = keepAliveLoad(url, { connections, path: '/v1/data', idPrefix, shutdownBegun: () => begun, maxMs: loadMs + drainMs + 15_000 })
    await sleep(loadMs)
    service.process.kill('SIGTERM')
    await until(() => service.lines.some((line) => line.includes('"event":"shutting-down"')), 'shutdown to begin')
    begun = true
    const [outcome, exitCode] = await Promise.all([load, service.exited])
    // A request the service read has its id on a log line: its completion, or its abort.
    const read = new Set<string>()
    for (const line of service.lines) {
      if (!line.startsWith('{')) continue
      const { reqId } = JSON.parse(line) as { reqId?: string }
      if (reqId !== undefined) read.add(reqId)
    }
    return { ...outcome, resetsOfReadRequests: outcome.resets.filter((id) => read.has(id)).length, exitCode }
  })
}

export async function benchShutdown({ rounds = 5, connections = 50, drainMs = 1000, loadMs = 1500 } = {}): Promise<ShutdownRound[]> {
  const results: ShutdownRound[] = []
  for (let round = 0; round < rounds; round += 1) results.push(await shutdownRound(connections, drainMs, loadMs))
  return results
}

export interface TimeoutFigure {
  timeoutMs: number
  /** From sending each call to its 504, per call. */
  answeredMs: number[]
  statuses: number[]
}

/** Calls to a provider that never answers in time: how long each takes to come back 504. */
export async function benchProviderTimeout({ timeoutMs = 2000, calls = 5 } = {}): Promise<TimeoutFigure> {
  return withPair({ PROVIDER_TIMEOUT_MS: String(timeoutMs) }, { PROVIDER_MODE: 'slow-data' }, async (_service, url) => {
    const answeredMs: number[] = []
    const statuses: number[] = []
    for (let call = 0; call < calls; call += 1) {
      const started = performance.now()
      const response = await request(`${url}/v1/data`)
      await response.body.dump()
      answeredMs.push(performance.now() - started)
      statuses.push(response.statusCode)
    }
    return { timeoutMs, answeredMs, statuses }
  })
}

export interface BreakerFigure {
  timeoutMs: number
  /** The calls that waited out the timeout until the breaker opened: status and time. */
  tripping: Array<{ status: number; ms: number }>
  /** The calls after it opened. */
  open: Array<{ status: number; ms: number }>
}

/**
 * A provider that never answers in time, behind the circuit breaker: the calls that open it
 * each wait out the timeout; the ones after are answered at once.
 */
export async function benchBreaker({ timeoutMs = 1000, threshold = 5, calls = 50 } = {}): Promise<BreakerFigure> {
  const serviceEnv = { PROVIDER_TIMEOUT_MS: String(timeoutMs), BREAKER_VOLUME_THRESHOLD: String(threshold), BREAKER_RESET_MS: '60000' }
  return withPair(serviceEnv, { PROVIDER_MODE: 'slow-data' }, async (_service, url) => {
    const timed = async () => {
      const started = performance.now()
      const response = await request(`${url}/v1/data`)
      await response.body.dump()
      return { status: response.statusCode, ms: performance.now() - started }
    }
    const tripping = []
    for (let call = 0; call < threshold; call += 1) tripping.push(await timed())
    const open = []
    for (let call = 0; call < calls; call += 1) open.push(await timed())
    return { timeoutMs, tripping, open }
  })
}
