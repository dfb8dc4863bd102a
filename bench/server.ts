// One benchmark server per process, chosen by BENCH_VARIANT, so autocannon (in the parent)
// and the server each get a core.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import app, { serverOptions } from '../templates/service/src/app.js'
import { loadConfig } from '../templates/service/src/config.js'
import aborts from '../templates/service/src/plugins/aborts.js'
import breaker from '../templates/service/src/plugins/breaker.js'
import { delay } from '../templates/service/src/plugins/delay.js'
import events from '../templates/service/src/plugins/events.js'
import { helmetHeaders } from '../templates/service/src/plugins/headers.js'
import metrics from '../templates/service/src/plugins/metrics.js'
import pressure from '../templates/service/src/plugins/pressure.js'
import rateLimit from '../templates/service/src/plugins/rate-limit.js'
import readiness from '../templates/service/src/plugins/readiness.js'
import { requestIdFrom } from '../templates/service/src/plugins/request-id.js'
import setup from '../templates/service/src/plugins/setup.js'
import { ProviderClient } from '../templates/service/src/provider/client.js'
import { createMemoryStore } from '../templates/service/src/store/memory.js'

const variant = process.env.BENCH_VARIANT
// Nothing listens on port 9: the closed gate keeps failing its handshake, as a real one might.
const env = {
  WEBHOOK_SECRET: `whsec_${Buffer.from('bench-secret-bench-secret').toString('base64')}`,
  PROVIDER_URL: 'http://127.0.0.1:9',
  // The gate's own cost, not the log's: both sides of these comparisons log nothing per request.
  LOG_LEVEL: 'warn',
}
// The whole app as it ships: security headers and rate limits on.
const config = loadConfig(env)
// The gate's own cost: the limiter, which an open gate lets requests reach, is another feature.
const gateConfig = loadConfig({ ...env, RATE_LIMIT: 'off' })
const handler = async () => ({ customer: true, error: false })

/** The gate alone: the plugins `delay()` relies on, and a trivial handler behind it. */
async function gateAlone(): Promise<FastifyInstance> {
  const server = Fastify({ logger: false })
  const store = createMemoryStore()
  await server.register(events)
  await server.register(metrics)
  await server.register(pressure, gateConfig.pressure)
  await server.register(setup, { config: gateConfig, store, provider: new ProviderClient(gateConfig.providerUrl, 1000) })
  await server.register(breaker, gateConfig.breaker)
  await server.register(readiness)
  await server.register(aborts)
  await server.register(rateLimit, { config: gateConfig.rateLimit, store })
  await server.register(
    delay(async (routes) => {
      routes.get('/data', handler)
    }),
    { prefix: '/v1' },
  )
  await server.ready()
  await store.saveCredential({ key: 'bench', expiresAt: null, requestId: 'bench' })
  return server
}

/** The generated app as `server.ts` builds it; its gate stays closed (no provider answers). */
async function wholeApp(): Promise<FastifyInstance> {
  const server = Fastify(serverOptions(config))
  await server.register(app, { config, store: createMemoryStore() })
  return server
}

function bare(route: (server: FastifyInstance) => void, options: FastifyServerOptions = {}): FastifyInstance {
  const server = Fastify({ logger: { level: config.logLevel }, ...options })
  route(server)
  return server
}

// What the closed gate answers, status, headers and body alike (its message says the wait).
const GATE_503_BODY = { error: true, retryInMs: 1000, message: 'waiting for the provider; retry in 1 s' }
// helmet's headers as the app sends them over http: all but HSTS (plugins/headers.ts).
const { 'strict-transport-security': _hsts, ...SECURITY_HEADERS } = helmetHeaders()

const variants: Record<string, () => Promise<FastifyInstance> | FastifyInstance> = {
  'gate-open': gateAlone,
  'bare-ok': () => {
    const server = Fastify({ logger: false })
    server.get('/v1/data', handler)
    return server
  },
  'app-closed': wholeApp,
  'bare-503': () =>
    bare((server) =>
      server.get('/v1/data', async (request, reply) =>
        reply.code(503).header('retry-after', '1').header('x-request-id', request.id).send(GATE_503_BODY),
      ),
    ),
  // The very same 503: the security headers too, set the cheapest way a route can, and an
  // x-request-id made as the app makes it (the client's, else a UUID; Fastify's default is a counter).
  'bare-503-headers': () =>
    bare(
      (server) =>
        server.get('/v1/data', async (request, reply) =>
          reply.code(503).headers(SECURITY_HEADERS).header('retry-after', '1').header('x-request-id', request.id).send(GATE_503_BODY),
        ),
      { genReqId: requestIdFrom },
    ),
  // Compared with the whole generated service, at the service's default log level (info).
  'bare-live': () => {
    const server = Fastify({ logger: { level: 'info' } })
    server.get('/health/live', async () => ({ status: 'ok' }))
    return server
  },
}

const build = variants[variant ?? '']
if (!build) throw new Error(`BENCH_VARIANT must be one of ${Object.keys(variants).join(', ')}`)
const server = await build()
await server.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
