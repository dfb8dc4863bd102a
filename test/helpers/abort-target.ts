import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { request } from 'undici'
import { templateDir } from './gatekeep.js'

// The generated service and its mock provider, run as real processes on free loopback ports,
// so simulate-abort is tested against real sockets hanging up.

export interface ProviderStats {
  authorizations: number
  webhooksDelivered: number
  dataCalls: number
  dataCallsCancelled: number
}

export interface RunningProcess {
  url: string
  pid: number
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>
}

export interface TargetOptions {
  /** Registers `/__gatekeep/aborts` (GATEKEEP_DEV=1); without it the service has only /metrics. */
  devRoutes?: boolean
  /** The mock provider's PROVIDER_MODE. */
  providerMode?: string
  /** How long the provider's `GET /data` takes. */
  providerLatencyMs?: number
}

export interface RunningTarget {
  serviceUrl: string
  servicePid: number
  serviceLogs: Array<Record<string, unknown>>
  providerUrl: string
  providerPid: number
  providerStats(): Promise<ProviderStats>
}

const START_TIMEOUT_MS = 15_000

/** Starts a template entry with tsx and resolves with the URL Fastify logs once it listens. */
function startProcess(t: TestContext, entry: string, env: Record<string, string>): Promise<RunningProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: templateDir,
    // LOG_LEVEL info: Fastify logs the address it listens on, and the service its abort events.
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.after(() => stop(child))
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not listen within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${entry} exited with ${code} before listening: ${stderr}`))
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entryLog: Record<string, unknown>
      try {
        entryLog = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      logs.push(entryLog)
      const listening = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(entryLog.msg))
      if (listening?.[1]) {
        clearTimeout(timer)
        resolve({ url: listening[1], pid: child.pid!, logs })
      }
    })
  })
}

/** SIGTERM for a graceful close, SIGKILL if it lingers; resolves once the process is gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(killer)
}

/** A mock provider and a service wired to it; resolves once the service's gate is open. */
export async function startTarget(t: TestContext, options: TargetOptions = {}): Promise<RunningTarget> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const provider = await startProcess(t, 'src/provider/mock-server.ts', {
    WEBHOOK_SECRET: secret,
    PROVIDER_PORT: '0',
    PROVIDER_DELAY_MS: '100',
    PROVIDER_LATENCY_MS: String(options.providerLatencyMs ?? 700),
    PROVIDER_MODE: options.providerMode ?? 'ok',
  })
  const serviceEnv: Record<string, string> = {
    WEBHOOK_SECRET: secret,
    PORT: '0',
    HOST: '127.0.0.1',
    PROVIDER_URL: provider.url,
    // Empty, not unset, so a stray .env in the template cannot supply one.
    PUBLIC_URL: '',
    GATEKEEP_DEV: options.devRoutes === false ? '' : '1',
  }
  const service = await startProcess(t, 'src/server.ts', serviceEnv)
  return {
    serviceUrl: service.url,
    servicePid: service.pid,
    serviceLogs: service.logs,
    providerUrl: provider.url,
    providerPid: provider.pid,
    providerStats: async () => {
      const response = await request(`${provider.url}/__provider/stats`)
      return (await response.body.json()) as ProviderStats
    },
  }
}

/** The log lines of one event, e.g. `client-abort`. */
export function events(logs: ReadonlyArray<Record<string, unknown>>, event: string): Array<Record<string, unknown>> {
  return logs.filter((line) => line.event === event)
}
