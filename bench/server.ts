// One benchmark server per process, chosen by BENCH_VARIANT, so autocannon (in the parent)
// and the server each get a core.
import Fastify, { type FastifyInstance } from 'fastify'
import aborts from '../templates/service/src/plugins/aborts.js'
import { delay } from '../templates/service/src/plugins/delay.js'
import metrics from '../templates/service/src/plugins/metrics.js'
import pressure from '../templates/service/src/plugins/pressure.js'
import setup from '../templates/service/src/plugins/setup.js'
import { loadConfig } from '../templates/service/src/config.js'
import { ProviderClient } from '../templates/service/src/provider/client.js'
import { createMemoryStore } from '../templates/service/src/store/memory.js'

const variant = process.env.BENCH_VARIANT
// Nothing listens on port 9: the closed gate keeps failing its handshake, as a real one might.
const config = loadConfig({
  WEBHOOK_SECRET: `whsec_${Buffer.from('bench-secret-bench-secret').toString('base64')}`,
  PROVIDER_URL: 'http://127.0.0.1:9',
})
const handler = async () => ({ customer: true, error: false })

/** The gate alone: the plugins `delay()` relies on, and a trivial handler behind it. */
async function gated(open: boolean): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  const store = createMemoryStore()
  await app.register(metrics)
  await app.register(pressure, config.pressure)
  await app.register(setup, { config, store, provider: new ProviderClient(config.providerUrl, 1000) })
  await app.register(aborts)
  await app.register(
    delay(async (routes) => {
      routes.get('/data', handler)
    }),
    { prefix: '/v1' },
  )
  await app.ready()
  if (open) await store.saveCredential({ key: 'bench', expiresAt: null, requestId: 'bench' })
  return app
}

function bare(route: (app: FastifyInstance) => void): FastifyInstance {
  const app = Fastify({ logger: false })
  route(app)
  return app
}

const variants: Record<string, () => Promise<FastifyInstance> | FastifyInstance> = {
  'gate-open': () => gated(true),
  'bare-ok': () => bare((app) => app.get('/v1/data', handler)),
  'gate-closed': () => gated(false),
  // The same answer the closed gate gives: status, Retry-After and body.
  'bare-503': () =>
    bare((app) =>
      app.get('/v1/data', async (_request, reply) =>
        reply.code(503).header('retry-after', '1').send({ error: true, retryInMs: 1000 }),
      ),
    ),
  // Compared with the whole generated service, at the service's default log level (info).
  'bare-live': () => {
    const app = Fastify({ logger: { level: 'info' } })
    app.get('/health/live', async () => ({ status: 'ok' }))
    return app
  },
}

const build = variants[variant ?? '']
if (!build) throw new Error(`BENCH_VARIANT must be one of ${Object.keys(variants).join(', ')}`)
const app = await build()
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
