import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api'

// The service's own trace spans: the handshake (src/gate.ts) and the webhook's application
// (src/routes/webhook.ts). Requests and provider calls get theirs from the instrumentations that
// src/tracing.ts registers. Until an OpenTelemetry SDK is registered, which happens only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, this tracer and its spans do nothing.

export const tracer = trace.getTracer('gatekeep')

/** Runs `work` in a span of its own, a child of the active one, ended when `work` settles. */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span)
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message })
      throw error
    } finally {
      span.end()
    }
  })
}
