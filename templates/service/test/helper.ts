import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'
import app, { serverOptions } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { createMemoryStore } from '../src/store/memory.js'
import type { GateStore } from '../src/store/types.js'
import { buildMockProvider, MOCK_PROVIDER_DEFAULTS, type MockProviderOptions } from '../src/provider/mock.js'

export const SECRET = `whsec_${randomBytes(32).toString('base64')}`

/** Every line the app logged, kept so tests can read events and check what never appears. */
export class LogCapture {
  readonly lines: string[] = []
  readonly stream = new Writable({
    write: (chunk, _encoding, done) => {
      this.lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })

  events(event: string): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === event)
  }
}

export interface BuildOptions {
  env?: Record<string, string>
  /** The store to use; memory unless a test brings its own (the Redis tests do). */
  store?: (config: Config, log: FastifyBaseLogger) => GateStore
  logs?: LogCapture
  /** Registers more routes before the app is ready (e.g. extra gated routes). */
  extend?: (server: FastifyInstance) => void
}

/** The app as `server.ts` builds it, on `inject` only (no handshake), closed after the test. */
export async function build(t: TestContext, { env = {}, logs, extend, store }: BuildOptions = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    WEBHOOK_SECRET: SECRET,
    PROVIDER_URL: 'http://127.0.0.1:9',
    PORT: '0',
    GATE_BACKOFF_BASE_MS: '20',
    GATE_BACKOFF_MAX_MS: '200',
    ...env,
  })
  const server = Fastify({
    ...serverOptions(config),
    logger: logs ? { level: 'debug', stream: logs.stream } : false,
  })
  // The gate's logic is the same over any store: these tests use memory, so they need no
  // Redis; redis-store.test.ts covers the Redis store itself.
  await server.register(app, { config, store: store ? store(config, server.log) : createMemoryStore() })
  extend?.(server)
  t.after(() => server.close())
  await server.ready()
  return server
}

export interface RunningProvider {
  url: string
  close(): Promise<void>
  stats(): Promise<{ authorizations: number; webhooksDelivered: number; dataCalls: number; dataCallsCancelled: number }>
}

/** The mock provider on a free loopback port, with short delays so tests stay quick. */
export async function startProvider(t: TestContext, options: Partial<MockProviderOptions> = {}): Promise<RunningProvider> {
  const provider = buildMockProvider(
    {
      ...MOCK_PROVIDER_DEFAULTS,
      secret: SECRET,
      delayMs: 50,
      restartDelayMs: 50,
      dataLatencyMs: 50,
      redeliveryBaseMs: 20,
      ...options,
    },
    { logger: false },
  )
  t.after(() => provider.close())
  const url = await provider.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    close: () => provider.close(),
    stats: async () => {
      const { body } = await request(`${url}/__provider/stats`)
      return (await body.json()) as Awaited<ReturnType<RunningProvider['stats']>>
    },
  }
}

/** The app listening on a free loopback port: the handshake with `providerUrl` starts at once. */
export async function startService(
  t: TestContext,
  providerUrl: string,
  options: BuildOptions = {},
): Promise<{ server: FastifyInstance; url: string }> {
  const server = await build(t, { ...options, env: { PROVIDER_URL: providerUrl, ...options.env } })
  const url = await server.listen({ port: 0, host: '127.0.0.1' })
  return { server, url }
}

/** A loopback port nothing listens on right now (for child processes that need one up front). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Polls until `check` returns a truthy value; the test's own timeout bounds the wait too. */
export async function waitFor<T>(check: () => T | Promise<T>, { timeoutMs = 5000, what = 'condition' } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

export async function waitForOpen(server: FastifyInstance): Promise<void> {
  await waitFor(() => server.gate.isOpen, { what: 'the gate to open' })
}

/** Standard Webhooks headers for `body`, signed with `secret` (the service's by default). */
export function signedHeaders(
  body: string,
  { secret = SECRET, id = `msg_${randomUUID()}`, timestamp = new Date() } = {},
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, timestamp, body),
  }
}
