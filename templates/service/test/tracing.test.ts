// Tracing is opt-in: with OTEL_EXPORTER_OTLP_ENDPOINT, spans for each request, provider call,
// handshake and webhook, linked as they happened; without it, no OpenTelemetry SDK is loaded.
// The SDK registers itself for its whole process, so each run here is a child process.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { promisify } from 'node:util'
import { loadConfig } from '../src/config.js'
import { SECRET, waitFor } from './helper.js'
import type { SpanRecord } from './tracing-run.js'

const TSX = import.meta.resolve('tsx')
const SERVICE_ENTRY = new URL('../src/server.ts', import.meta.url).pathname
const TRACING_RUN = new URL('./tracing-run.ts', import.meta.url).pathname
const SERVER_KIND = 1
const CLIENT_KIND = 2

test('spans: each request with its id and gate state, its provider call as a descendant, the handshake and the webhook applying its key', { timeout: 30_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', TSX, TRACING_RUN], { timeout: 25_000 })
  const spans = JSON.parse(stdout) as SpanRecord[]
  const byId = new Map(spans.map((span) => [span.spanId, span]))
  const ancestors = (span: SpanRecord): SpanRecord[] => {
    const parent = span.parentSpanId === null ? undefined : byId.get(span.parentSpanId)
    return parent === undefined ? [] : [parent, ...ancestors(parent)]
  }
  const only = (what: string, match: (span: SpanRecord) => boolean): SpanRecord => {
    const found = spans.filter(match)
    assert.equal(found.length, 1, `one ${what} among ${JSON.stringify(spans.map((span) => span.name))}`)
    return found[0] as SpanRecord
  }
  const requestSpan = (id: string) => only(`request span of ${id}`, (span) => span.kind === SERVER_KIND && span.attributes['gatekeep.request.id'] === id)
  const providerCalls = (path: string) =>
    spans.filter((span) => span.kind === CLIENT_KIND && new URL(String(span.attributes['url.full'])).pathname === path)

  // The handshake: a trace of its own, with /authorize as its child.
  const handshake = only('handshake span', (span) => span.name === 'gatekeep.handshake')
  assert.equal(handshake.parentSpanId, null)
  assert.equal(handshake.error, false)
  assert.equal(handshake.attributes['gatekeep.handshake.attempt'], 1)
  const requestId = handshake.attributes['gatekeep.handshake.request_id']
  assert.equal(typeof requestId, 'string')
  const [authorize] = providerCalls('/authorize')
  assert.equal(authorize?.parentSpanId, handshake.spanId)

  // The webhook: its request's span, the application of its key beneath, linked from the handshake.
  const apply = only('webhook span', (span) => span.name === 'gatekeep.webhook.apply')
  assert.equal(apply.attributes['gatekeep.handshake.request_id'], requestId)
  assert.equal(apply.attributes['gatekeep.webhook.outcome'], 'opened')
  assert.ok(ancestors(apply).some((span) => span.kind === SERVER_KIND && span.name === 'POST /webhook'), 'inside the webhook request span')
  assert.deepEqual(handshake.links, [apply.spanId])

  // A customer request: named after its route, with its request id and the gate's state; the
  // provider call it made is its descendant, in its trace.
  const served = requestSpan('trace-served')
  assert.equal(served.name, 'GET /v1/data')
  assert.equal(served.attributes['gatekeep.gate.state'], 'open')
  assert.equal(served.attributes['http.response.status_code'], 200)
  const [dataCall, ...more] = providerCalls('/data')
  assert.equal(more.length, 0, 'one provider data call')
  assert.ok(dataCall && ancestors(dataCall).includes(served), 'the provider call descends from its request span')
  assert.equal(dataCall.traceId, served.traceId)

  const refused = requestSpan('trace-refused')
  assert.equal(refused.attributes['gatekeep.gate.state'], 'gate-pending')
  assert.equal(refused.attributes['http.response.status_code'], 503)

  // Probes are not traced, and no span carries the key.
  assert.equal(spans.filter((span) => span.kind === SERVER_KIND && span.attributes['http.route'] === '/health/ready').length, 0)
  assert.doesNotMatch(stdout, /mk_/)
})

interface Started {
  exitCode: Promise<number | null>
  /** The OpenTelemetry packages the process had loaded when it exited. */
  loaded: Promise<string[]>
}

/** Prints, on exit, which OpenTelemetry SDK or instrumentation files the process loaded (all CommonJS, so all in require's cache). */
const REPORT_LOADED = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module'
const { cache } = createRequire(process.cwd() + '/')
process.on('exit', () => {
  const loaded = Object.keys(cache).filter((file) => /@opentelemetry[\\\\/]sdk-node|@fastify[\\\\/]otel/.test(file))
  process.stdout.write('loaded ' + JSON.stringify(loaded) + '\\n')
})`)}`

/** `npm start` in an empty directory (no `.env` of ours), SIGTERM once it listens. */
async function startAndStop(t: TestContext, env: Record<string, string>): Promise<Started> {
  const cwd = await mkdtemp(join(tmpdir(), 'gatekeep-tracing-'))
  t.after(() => rm(cwd, { recursive: true, force: true }))
  const child = spawn(process.execPath, ['--import', TSX, '--import', REPORT_LOADED, SERVICE_ENTRY], {
    cwd,
    env: { PATH: process.env.PATH, WEBHOOK_SECRET: SECRET, PORT: '0', PROVIDER_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += String(chunk)
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  await waitFor(() => stdout.includes('Server listening') || child.exitCode !== null, { timeoutMs: 15_000, what: 'the service to listen' })
  // One customer request answered before the stop: its span has ended, so there is always
  // something buffered to export, however slowly the machine runs the first handshake.
  const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1]
  if (url !== undefined) await (await fetch(`${url}/v1/data`)).text()
  child.kill('SIGTERM')
  return {
    exitCode: exited,
    loaded: exited.then(() => JSON.parse(/^loaded (.*)$/m.exec(stdout)?.[1] ?? 'null') as string[]),
  }
}

test('a plain start loads no OpenTelemetry SDK or instrumentation', { timeout: 20_000 }, async (t) => {
  const started = await startAndStop(t, {})
  assert.equal(await started.exitCode, 0)
  assert.deepEqual(await started.loaded, [])
})

test('with OTEL_EXPORTER_OTLP_ENDPOINT it exports there; a collector that never answers holds up neither the service nor its exit', { timeout: 20_000 }, async (t) => {
  // Accepts the exporter's connection and never answers it.
  const held = new Set<Socket>()
  const collector = createServer((socket) => held.add(socket)).listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.after(() => {
    for (const socket of held) socket.destroy()
    collector.close()
  })
  const { port } = collector.address() as { port: number }
  const started = await startAndStop(t, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` })
  // Without a bound on the spans' last export, close-with-grace's safety net would kill it: exit 1.
  assert.equal(await started.exitCode, 0)
  assert.ok(held.size > 0, 'the buffered spans went to the collector')
  assert.ok((await started.loaded).length > 0)
})

test('OTEL_EXPORTER_OTLP_ENDPOINT is validated at start, and only turns tracing on when set', () => {
  const base = { WEBHOOK_SECRET: SECRET }
  assert.equal(loadConfig(base).tracing, false)
  assert.equal(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing, false)
  assert.equal(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing, true)
  assert.throws(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /^Error: OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/)
})
