import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { request } from 'undici'
import { templateDir } from './gatekeep.js'

// The generated service and its mock provider, run as real processes on free loopback ports
// without gatekeep dev (so without /__gatekeep/aborts, as in production), so simulate-abort is
// tested against real sockets hanging up.

export interface ProviderStats {
  authorizations: number
  webhooksDelivered: number
  dataCalls: number
  dataCallsCancelled: number
}

export interface TargetOptions {
  /** The mock provider's PROVIDER_MODE. */
  providerMode?: string
}

export interface RunningTarget {
  serviceUrl: string
  providerStats(): Promise<ProviderStats>
}

const START_TIMEOUT_MS = 15_000

/** Starts a template entry with tsx and resolves with the URL Fastify logs once it listens. */
function startProcess(t: TestContext, entry: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: templateDir,
    // LOG_LEVEL info: Fastify logs the address it listens on.
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.after(() => stop(child))
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
      const listening = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(entryLog.msg))
      if (listening?.[1]) {
        clearTimeout(timer)
        resolve(listening[1])
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

/** A mock provider and a service wired to it; resolves once both listen. */
export async function startTarget(t: TestContext, options: TargetOptions = {}): Promise<RunningTarget> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const provider = await startProcess(t, 'src/provider/mock-server.ts', {
    WEBHOOK_SECRET: secret,
    PROVIDER_PORT: '0',
    PROVIDER_DELAY_MS: '100',
    PROVIDER_MODE: options.providerMode ?? 'ok',
  })
  const serviceEnv: Record<string, string> = {
    WEBHOOK_SECRET: secret,
    PORT: '0',
    HOST: '127.0.0.1',
    PROVIDER_URL: provider,
    // Empty, not unset, so a stray .env in the template cannot supply one.
    PUBLIC_URL: '',
  }
  const service = await startProcess(t, 'src/server.ts', serviceEnv)
  return {
    serviceUrl: service,
    providerStats: async () => {
      const response = await request(`${provider}/__provider/stats`)
      return (await response.body.json()) as ProviderStats
    },
  }
}
