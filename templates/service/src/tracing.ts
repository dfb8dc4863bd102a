// Tracing with OpenTelemetry, opt-in: src/server.ts imports this module only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, and before Fastify and the app, so that a plain start never
// loads the SDK. The SDK reads its own OTEL_* variables (endpoint, protocol, headers, sampler...).
import { FastifyOtelInstrumentation } from '@fastify/otel'
import type { Span } from '@opentelemetry/api'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { readProject } from './config.js'

/** Probes and scrapes come every few seconds and would drown the traces worth reading. */
function isProbeOrScrape({ url }: { url: string }): boolean {
  return url.startsWith('/health/') || url.startsWith('/metrics')
}

/** Names the request's span after its route, and tells its request id and the gate's state on arrival. */
function describeRequest(span: Span, request: FastifyRequest): void {
  if (request.routeOptions.url !== undefined) span.updateName(`${request.method} ${request.routeOptions.url}`)
  span.setAttribute('gatekeep.request.id', request.id)
  // Every Fastify instance of the process is traced; only the service's has a gate.
  const { gate } = request.server as Partial<FastifyInstance>
  if (gate === undefined) return
  const status = gate.status()
  span.setAttribute('gatekeep.gate.state', status.open ? 'open' : status.reason)
}

/**
 * Starts the SDK with spans for each request (@fastify/otel, which attaches to every Fastify
 * instance created from now on) and each outgoing call (undici's diagnostics channels: the
 * provider calls), exported over OTLP. `configuration` overrides the defaults.
 */
export function startTracing(configuration: Partial<NodeSDKConfiguration> = {}): NodeSDK {
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME || readProject().name,
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: isProbeOrScrape,
        requestHook: describeRequest,
        // A span per request and per handler; one per hook would multiply them for little news.
        instrumentHooks: false,
      }),
      new UndiciInstrumentation(),
    ],
    // Traces only: metrics stay on /metrics, logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    ...configuration,
  })
  sdk.start()
  return sdk
}
