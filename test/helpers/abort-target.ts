import { randomBytes } from 'node:crypto'
import type { TestContext } from 'node:test'
import { PROVIDER_ENTRY, PROVIDER_ROUTES, SERVICE_ENTRY } from '../../src/project/contract.js'
import { templateDir } from './gatekeep.js'
import { waitForResponse } from './http.js'
import { freePort } from './ports.js'
import { spawnCaptured } from './spawn.js'

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

/** Starts a template entry with tsx; resolves once `readyPath` answers at `url`. Killed when the test ends. */
async function startEntry(t: TestContext, entry: string, url: string, readyPath: string, env: Record<string, string>): Promise<void> {
  // Warnings and errors only: the output is shown when it fails to start.
  const running = spawnCaptured(process.execPath, ['--import', 'tsx', entry], { cwd: templateDir, env: { LOG_LEVEL: 'warn', ...env }, t })
  await waitForResponse(`${url}${readyPath}`, running)
}

/** A mock provider and a service wired to it; resolves once both listen. */
export async function startTarget(t: TestContext, options: TargetOptions = {}): Promise<RunningTarget> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const [providerPort, servicePort] = [await freePort(), await freePort()]
  const providerUrl = `http://127.0.0.1:${providerPort}`
  const serviceUrl = `http://127.0.0.1:${servicePort}`
  await startEntry(t, PROVIDER_ENTRY, providerUrl, PROVIDER_ROUTES.stats, {
    WEBHOOK_SECRET: secret,
    PROVIDER_PORT: String(providerPort),
    PROVIDER_DELAY_MS: '100',
    PROVIDER_MODE: options.providerMode ?? 'ok',
  })
  await startEntry(t, SERVICE_ENTRY, serviceUrl, '/health/live', {
    WEBHOOK_SECRET: secret,
    PORT: String(servicePort),
    HOST: '127.0.0.1',
    PROVIDER_URL: providerUrl,
    // Empty, not unset, so a stray .env in the template cannot supply one.
    PUBLIC_URL: '',
  })
  return {
    serviceUrl,
    providerStats: async () => (await (await fetch(`${providerUrl}${PROVIDER_ROUTES.stats}`)).json()) as ProviderStats,
  }
}
