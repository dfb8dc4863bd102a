import { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { Socket } from 'node:net'
import type { FastifyHelmetOptions } from '@fastify/helmet'
import fp from 'fastify-plugin'

type HelmetMiddleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void

// helmet itself, as @fastify/helmet loads it: resolved from there, whose dependency it is, so
// that both are always the same copy, with any package manager's layout.
const helmet = createRequire(import.meta.resolve('@fastify/helmet'))('helmet') as (options: FastifyHelmetOptions) => HelmetMiddleware

/**
 * helmet configured for a JSON API. Kept: X-Content-Type-Options: nosniff (a JSON body
 * is never sniffed into HTML or script), X-Frame-Options: DENY (no answer is ever framed),
 * Cross-Origin-Resource-Policy: same-origin (other sites cannot read answers through no-cors
 * requests), and Strict-Transport-Security, sent over https only (below). Turned off: the
 * headers that govern how a browser treats a document a JSON answer never is: what it may load
 * and run (Content-Security-Policy), its browsing context and agent cluster
 * (Cross-Origin-Opener-Policy, Origin-Agent-Cluster), the links it follows (Referrer-Policy,
 * X-DNS-Prefetch-Control), and Internet Explorer's, Flash's and the old XSS auditor's handling
 * of it (X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection). Each header
 * costs every answer, the gate's 503 included; these would buy nothing.
 */
export const API_HELMET_OPTIONS: FastifyHelmetOptions = {
  contentSecurityPolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
  xFrameOptions: { action: 'deny' },
}

/**
 * The headers helmet sets with `options`, run once on a response that is never sent. Without
 * CSP nonces they depend on the options alone, never on the request. (A throwaway Fastify
 * instance with @fastify/helmet would do it too, but every instance is seen by what watches
 * Fastify's creation: OpenTelemetry would trace its request.)
 */
export function helmetHeaders(options: FastifyHelmetOptions = API_HELMET_OPTIONS): Record<string, string> {
  const request = new IncomingMessage(new Socket())
  const response = new ServerResponse(request)
  // helmet sets the headers before it calls next, and throws on options it refuses.
  helmet(options)(request, response, () => {})
  return Object.fromEntries(Object.entries(response.getHeaders()).map(([name, value]) => [name, String(value)]))
}

/**
 * The headers of every answer, set by one root hook: the request id, and helmet's security
 * headers, computed once at start.
 *
 * @fastify/helmet registered on the app would run two hooks on every request, one of them
 * async, and build helmet's middleware anew each time: the closed gate's 503 lost about a third
 * of its throughput to it. Its headers do not change from one request to the next, so the same
 * set is precomputed and goes out on every answer: the gate's 503, 404s, errors and the probes.
 */
export default fp(
  async function headers(fastify) {
    const { 'strict-transport-security': hsts, ...always } = helmetHeaders()
    fastify.addHook('onRequest', function setHeaders(request, reply, done) {
      reply.headers(always)
      reply.header('x-request-id', request.id)
      // HSTS over https only: a TLS socket, or a proxy named in TRUST_PROXY saying
      // X-Forwarded-Proto: https. Browsers heed it over https only.
      if (hsts !== undefined && request.protocol === 'https') reply.header('strict-transport-security', hsts)
      done()
    })
  },
  { name: 'headers' },
)
