import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool, request } from 'undici'
import { freePort, SECRET, waitFor } from './helper.js'
import { keepAliveLoad } from './keep-alive-load.js'

// Resolved here, so a child running in a bare temp dir still finds the loader.
const TSX = import.meta.resolve('tsx')
const SERVICE_ENTRY = new URL('../src/server.ts', import.meta.url).pathname
const PROVIDER_ENTRY = new URL('../src/provider/mock-server.ts', import.meta.url).pathname

const isolatedDir = mkdtempSync(join(tmpdir(), 'gatekeep-cwd-'))
after(() => rmSync(isolatedDir, { recursive: true, force: true }))

interface Child {
  process: ChildProcess
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

/** Whole lines only: a chunk may end mid-line when the child logs a lot. */
function collectLines(stream: NodeJS.ReadableStream | null, lines: string[]): void {
  let partial = ''
  stream?.on('data', (chunk: Buffer) => {
    const parts = (partial + String(chunk)).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts.filter(Boolean))
  })
  stream?.on('end', () => {
    if (partial) lines.push(partial)
  })
}

/**
 * Runs an entry file the way `npm start`/`npm run provider` would, killed after the test. Its
 * working directory is empty unless given, so the project's own `.env` cannot leak in, and its
 * namespace is its own, so a Redis store shares nothing with a dev session or another test.
 */
function run(t: TestContext, entry: string, env: Record<string, string>, { cwd = isolatedDir, baseEnv = { WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info', GATE_NAMESPACE: `gatekeep-test-${randomUUID()}` } }: { cwd?: string; baseEnv?: Record<string, string> } = {}): Child {
  const child = spawn(process.execPath, ['--import', TSX, entry], {
    cwd,
    env: { PATH: process.env.PATH, ...baseEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const result: Child = {
    process: child,
    stdout: [],
    stderr: [],
    exited: once(child, 'exit').then(([code]) => code as number | null),
  }
  collectLines(child.stdout, result.stdout)
  collectLines(child.stderr, result.stderr)
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await result.exited
    }
  })
  return result
}

async function listening(child: Child): Promise<void> {
  await waitFor(() => child.stdout.some((line) => line.includes('Server listening')) || child.process.exitCode !== null, {
    timeoutMs: 15_000,
    what: 'the child to listen',
  })
  assert.equal(child.process.exitCode, null, child.stderr.join('\n') + child.stdout.join('\n'))
}

async function startPair(t: TestContext, serviceEnv: Record<string, string> = {}, providerEnv: Record<string, string> = {}) {
  const [servicePort, providerPort] = [await freePort(), await freePort()]
  // Keys with a lifetime, so that with the Redis store nothing outlives the test for long.
  const provider = run(t, PROVIDER_ENTRY, { PROVIDER_PORT: String(providerPort), PROVIDER_DELAY_MS: '50', PROVIDER_TTL_S: '60', ...providerEnv })
  await listening(provider)
  const service = run(t, SERVICE_ENTRY, {
    PORT: String(servicePort),
    PROVIDER_URL: `http://127.0.0.1:${providerPort}`,
    ...serviceEnv,
  })
  await listening(service)
  return { service, provider, url: `http://127.0.0.1:${servicePort}`, providerUrl: `http://127.0.0.1:${providerPort}` }
}

async function ready(url: string): Promise<boolean> {
  const response = await request(`${url}/health/ready`).catch(() => null)
  await response?.body.dump()
  return response?.statusCode === 200
}

test('a bad variable stops the service with one line naming it, exit 1', { timeout: 20_000 }, async (t) => {
  const child = run(t, SERVICE_ENTRY, { PORT: 'abc' })
  assert.equal(await child.exited, 1)
  assert.deepEqual(child.stderr, ['error: PORT must be a whole number from 0 to 65535; got "abc".'])
})

test('.env is loaded from the working directory and the environment wins', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatekeep-env-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const [envPort, filePort] = [await freePort(), await freePort()]
  await writeFile(join(dir, '.env'), `PORT=${filePort}\nWEBHOOK_SECRET=${SECRET}\nLOG_LEVEL=info\nPROVIDER_URL=http://127.0.0.1:9\n`)
  const child = run(t, SERVICE_ENTRY, { PORT: String(envPort) }, { cwd: dir, baseEnv: {} })
  await listening(child)
  const output = child.stdout.join('\n')
  assert.match(output, new RegExp(`127\\.0\\.0\\.1:${envPort}`))
  const live = await request(`http://127.0.0.1:${envPort}/health/live`)
  assert.deepEqual(await live.body.json(), { status: 'ok' })
})

test('a taken port: exit 1 with one line naming it', { timeout: 20_000 }, async (t) => {
  const blocker = createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.after(() => blocker.close())
  const { port } = blocker.address() as { port: number }
  const child = run(t, SERVICE_ENTRY, { PORT: String(port), PROVIDER_URL: 'http://127.0.0.1:9' })
  assert.equal(await child.exited, 1)
  const fatal = child.stdout.map((line) => JSON.parse(line)).find((entry) => entry.event === 'listen-failed')
  assert.match(fatal.msg, new RegExp(`port ${port} is already in use`))
})

test('SIGTERM under load: readiness fails at once, requests keep being served through the drain, then those still in flight get a 503 with Retry-After, exit 0', { timeout: 30_000 }, async (t) => {
  const { service, provider, url } = await startPair(t, { SHUTDOWN_DRAIN_MS: '400' }, { PROVIDER_LATENCY_MS: '300' })
  await waitFor(() => ready(url), { timeoutMs: 10_000, what: 'the gate to open' })

  const pool = new Pool(url, { connections: 10 })
  t.after(() => pool.close())
  // Ten answered within the drain; the ten queued behind them may still wait on the provider
  // when it ends, and then get a 503 to retry elsewhere.
  const inFlight = Array.from({ length: 20 }, () =>
    pool.request({ path: '/v1/data', method: 'GET' }).then(async (response) => {
      await response.body.dump()
      return { statusCode: response.statusCode, retryAfter: response.headers['retry-after'] }
    }),
  )
  await sleep(100)
  service.process.kill('SIGTERM')
  await waitFor(() => service.stdout.some((line) => line.includes('"event":"shutting-down"')), { what: 'shutdown to begin' })

  const duringDrain = await request(`${url}/health/ready`)
  assert.equal(duringDrain.statusCode, 503)
  assert.equal(((await duringDrain.body.json()) as { reason: string }).reason, 'shutting-down')
  const servedDuringDrain = await request(`${url}/v1/data`)
  assert.equal(servedDuringDrain.statusCode, 200)
  await servedDuringDrain.body.dump()

  const answers = await Promise.all(inFlight)
  assert.deepEqual(answers.slice(0, 10), Array(10).fill({ statusCode: 200, retryAfter: undefined }))
  for (const answer of answers.slice(10)) {
    assert.ok(answer.statusCode === 200 || (answer.statusCode === 503 && answer.retryAfter === '1'), JSON.stringify(answer))
  }
  assert.equal(await service.exited, 0)
  provider.process.kill('SIGTERM')
  assert.equal(await provider.exited, 0)
})

/** The requests the service read: each has a line with its id (its completion, or its abort). */
function requestsRead(child: Child): Set<string> {
  const ids = new Set<string>()
  for (const line of child.stdout) {
    const { reqId } = JSON.parse(line) as { reqId?: string }
    if (reqId !== undefined) ids.add(reqId)
  }
  return ids
}

test('SIGTERM under keep-alive load: each answer a 200 or a 503 with Retry-After and x-request-id, Connection: close from then on, no request read then reset, exit 0', { timeout: 60_000 }, async (t) => {
  // Fifty clients from one address: far past any rate limit, which is not what is measured here.
  const { service, url } = await startPair(t, { SHUTDOWN_DRAIN_MS: '500', RATE_LIMIT: 'off' }, { PROVIDER_LATENCY_MS: '5' })
  await waitFor(() => ready(url), { timeoutMs: 10_000, what: 'the gate to open' })

  let begun = false
  const connections = 50
  const load = keepAliveLoad(url, { connections, path: '/v1/data', idPrefix: `load-${randomUUID()}`, shutdownBegun: () => begun, maxMs: 30_000 })
  await sleep(500)
  service.process.kill('SIGTERM')
  await waitFor(() => service.stdout.some((line) => line.includes('"event":"shutting-down"')), { what: 'shutdown to begin' })
  begun = true
  const [outcome, exitCode] = await Promise.all([load, service.exited])

  assert.equal(exitCode, 0)
  assert.deepEqual(outcome.errors, [])
  assert.deepEqual(Object.keys(outcome.statuses).filter((status) => status !== '200' && status !== '503'), [])
  assert.equal(outcome.unavailableWithoutRetryAfter, 0)
  assert.equal(outcome.withoutRequestId, 0)
  assert.equal(outcome.keptAliveAfterShutdown, 0)
  const read = requestsRead(service)
  assert.deepEqual(outcome.resets.filter((id) => read.has(id)), [])
  // Every client stopped because the listener had closed, not at the load's time bound.
  assert.equal(outcome.refused, connections)
})

test('SIGTERM with slow provider calls in flight: once the drain ends they are cancelled, each customer gets a 503 with Retry-After, exit 0', { timeout: 40_000 }, async (t) => {
  const { service, url, providerUrl } = await startPair(t, { PROVIDER_TIMEOUT_MS: '15000', SHUTDOWN_DRAIN_MS: '200' }, { PROVIDER_MODE: 'slow-data' })
  await waitFor(() => ready(url), { timeoutMs: 10_000, what: 'the gate to open' })

  const pool = new Pool(url, { connections: 5 })
  t.after(() => pool.destroy())
  const answers = Array.from({ length: 5 }, (_, index) =>
    pool.request({ path: '/v1/data', method: 'GET', headers: { 'x-request-id': `slow-${index}` } }).then(async (response) => {
      await response.body.dump()
      return { statusCode: response.statusCode, retryAfter: response.headers['retry-after'], requestId: response.headers['x-request-id'] }
    }),
  )
  await waitFor(
    async () => {
      const stats = (await (await request(`${providerUrl}/__provider/stats`)).body.json()) as { dataCalls: number }
      return stats.dataCalls === 5
    },
    { what: 'five calls at the provider' },
  )
  service.process.kill('SIGTERM')

  assert.deepEqual(
    await Promise.all(answers),
    Array.from({ length: 5 }, (_, index) => ({ statusCode: 503, retryAfter: '1', requestId: `slow-${index}` })),
  )
  assert.equal(await service.exited, 0)
})

test('a connection that never sends a request does not hold the shutdown: the service closes it, exit 0', { timeout: 30_000 }, async (t) => {
  const { service, url } = await startPair(t)
  const silent = connect(Number(new URL(url).port), '127.0.0.1')
  silent.on('error', () => {})
  t.after(() => silent.destroy())
  await once(silent, 'connect')
  // Accepted in order: once a later connection has been served, the service holds this one.
  await (await request(`${url}/health/live`)).body.dump()

  const closedByService = once(silent, 'close')
  service.process.kill('SIGTERM')
  assert.equal(await service.exited, 0)
  await closedByService
})

test('GATE_MAX_ATTEMPTS: the service gives up, closes gracefully and exits 1', { timeout: 30_000 }, async (t) => {
  const { service, provider } = await startPair(t, { GATE_MAX_ATTEMPTS: '2', GATE_BACKOFF_BASE_MS: '20' }, { PROVIDER_MODE: 'reject' })
  assert.equal(await service.exited, 1)
  const events = service.stdout.map((line) => JSON.parse(line).event)
  assert.deepEqual(events.filter((event) => event === 'handshake-failed' || event === 'gate-exhausted'), ['handshake-failed', 'gate-exhausted'])
  const providerPort = new URL(provider.stdout.map((line) => JSON.parse(line).msg).find((msg: string) => msg.startsWith('Server listening')).split(' at ')[1]).port
  const stats = (await (await request(`http://127.0.0.1:${providerPort}/__provider/stats`)).body.json()) as { authorizations: number }
  assert.equal(stats.authorizations, 2)
})
