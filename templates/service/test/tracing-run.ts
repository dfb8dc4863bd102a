// Run by tracing.test.ts in a process of its own: the OpenTelemetry SDK registers itself for the
// whole process, which no other test may inherit. It starts tracing as src/server.ts does, with
// an in-memory exporter instead of OTLP, drives a provider and a service through a handshake,
// a refused and a served request, and prints the finished spans as one JSON line.
import type { TestContext } from 'node:test'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startTracing } from '../src/tracing.js'

export interface SpanRecord {
  name: string
  kind: number
  traceId: string
  spanId: string
  parentSpanId: string | null
  attributes: Record<string, unknown>
  links: string[]
  error: boolean
}

const exporter = new InMemorySpanExporter()
const processor = new SimpleSpanProcessor(exporter)
const sdk = startTracing({ spanProcessors: [processor] })

// Loaded once the SDK runs, as src/server.ts loads Fastify and the app.
const { request } = await import('undici')
const { startProvider, startService, waitForOpen } = await import('./helper.js')

// The helpers only ask their test context to close what they started.
const closers: Array<() => unknown> = []
const context = { after: (close: () => unknown) => closers.push(close) } as unknown as TestContext
try {
  // The webhook waits for callback-now, so that a request meets the closed gate first.
  const provider = await startProvider(context, { delayMs: 60_000 })
  const { server, url } = await startService(context, provider.url)
  const refused = await request(`${url}/v1/data`, { headers: { 'x-request-id': 'trace-refused' } })
  await refused.body.dump()
  await (await request(`${provider.url}/__provider/callback-now`, { method: 'POST' })).body.dump()
  await waitForOpen(server)
  const served = await request(`${url}/v1/data`, { headers: { 'x-request-id': 'trace-served' } })
  await served.body.dump()
  await (await request(`${url}/health/ready`)).body.dump()
  if (refused.statusCode !== 503 || served.statusCode !== 200) throw new Error(`answers ${refused.statusCode}, ${served.statusCode}`)
} finally {
  for (const close of closers.reverse()) await close()
}
// Spans are exported once the resource's asynchronous attributes are known; shutting down clears them.
await processor.forceFlush()
const spans: SpanRecord[] = exporter.getFinishedSpans().map((span) => ({
  name: span.name,
  kind: span.kind,
  traceId: span.spanContext().traceId,
  spanId: span.spanContext().spanId,
  parentSpanId: span.parentSpanContext?.spanId ?? null,
  attributes: { ...span.attributes },
  links: span.links.map((link) => link.context.spanId),
  error: span.status.code === 2,
}))
await sdk.shutdown()
process.stdout.write(`${JSON.stringify(spans)}\n`)
