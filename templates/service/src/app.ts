import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.js'
import aborts from './plugins/aborts.js'
import breaker from './plugins/breaker.js'
import { delay } from './plugins/delay.js'
import errors from './plugins/errors.js'
import eventLog from './plugins/event-log.js'
import events from './plugins/events.js'
import headers from './plugins/headers.js'
import metrics from './plugins/metrics.js'
import pressure from './plugins/pressure.js'
import rateLimit from './plugins/rate-limit.js'
import readiness from './plugins/readiness.js'
import { RequestLog } from './plugins/request-log.js'
import { requestIdFrom } from './plugins/request-id.js'
import setup from './plugins/setup.js'
import shutdown from './plugins/shutdown.js'
import { ProviderClient } from './provider/client.js'
import customerRoutes from './routes/customer.js'
import healthRoutes from './routes/health.js'
import webhookRoutes from './routes/webhook.js'
import { createStore } from './store/index.js'
import type { GateStore } from './store/types.js'

export interface AppOptions {
  config: Config
  /** Defaults to the store this project was generated with (`src/store/index.ts`). */
  store?: GateStore
}

/** The Fastify options the app relies on; `server.ts` and the tests build with these. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    logger: { level: config.logLevel },
    // One line per request, when it completes; probes and scrapes only at debug.
    logController: new RequestLog(),
    genReqId: requestIdFrom,
    // genReqId reads and validates x-request-id itself; Fastify would take any header value.
    requestIdHeader: false,
    // Its closing 503 is written before any hook runs: no Retry-After, no x-request-id. The
    // shutdown plugin answers instead.
    return503OnClosing: false,
    // request.ip and request.protocol believe X-Forwarded-* only from these proxies: the rate
    // limits' client and whether HSTS goes out.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
  }
}

/** Registers every plugin and route; wrapped so that `server.ts` sees the gate and readiness. */
export default fp(
  async function app(fastify: FastifyInstance, { config, store }: AppOptions) {
    await fastify.register(events)
    await fastify.register(eventLog)
    await fastify.register(headers)
    await fastify.register(metrics)
    await fastify.register(errors)
    await fastify.register(pressure, config.pressure)
    const gateStore = store ?? createStore({ config, log: fastify.log })
    await fastify.register(setup, {
      config,
      store: gateStore,
      provider: new ProviderClient(config.providerUrl, config.providerTimeoutMs),
    })
    await fastify.register(breaker, config.breaker)
    await fastify.register(readiness)
    await fastify.register(aborts)
    await fastify.register(shutdown)
    await fastify.register(rateLimit, { config: config.rateLimit, store: gateStore })

    await fastify.register(healthRoutes)
    await fastify.register(webhookRoutes, { secret: config.webhookSecret })
    await fastify.register(delay(customerRoutes), { prefix: '/v1' })
  },
  { name: 'app' },
)
