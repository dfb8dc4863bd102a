import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, loadDotEnv, type Config } from './config.js'

function readConfig(): Config {
  loadDotEnv()
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`error: ${error.message}\n`)
    process.exit(1)
  }
}

const config = readConfig()
// Tracing is opt-in: without OTEL_EXPORTER_OTLP_ENDPOINT the SDK is never loaded and costs
// nothing. With it, the SDK starts before Fastify and the app are loaded, so that its
// instrumentations are in place when they are.
const tracing = config.tracing ? (await import('./tracing.js')).startTracing() : null
const { default: Fastify } = await import('fastify')
const { default: app, serverOptions } = await import('./app.js')
const server = Fastify(serverOptions(config))
await server.register(app, { config })

/** For the rest of the close: the store's connection, connections that never sent a request. */
const CLOSE_MARGIN_MS = 1000

/**
 * Readiness fails at once; requests are served through the drain, every answer closing its
 * connection; then the server stops accepting and in-flight requests are answered.
 */
async function shutdown(signal: string | null): Promise<void> {
  server.readiness.beginShutdown()
  server.events.publish('shutdown', { phase: 'draining', signal, drainMs: config.shutdownDrainMs })
  if (config.shutdownDrainMs > 0) await sleep(config.shutdownDrainMs)
  server.events.publish('shutdown', { phase: 'closing', signal })
  await server.close()
  // Every request answered and the gate stopped: the spans still buffered are sent, within part
  // of the close's margin, so that a collector that does not answer cannot hold up the exit.
  if (tracing) await Promise.race([tracing.shutdown(), sleep(CLOSE_MARGIN_MS / 2, undefined, { ref: false })])
}

// A safety net: once the drain ends, in-flight provider calls are cancelled (plugins/aborts.ts)
// and the close takes well under a second; a call made without its request's signal still ends
// within the provider's timeout. Past that, the process is killed.
const graceful = closeWithGrace(
  { delay: config.shutdownDrainMs + config.providerTimeoutMs + CLOSE_MARGIN_MS, logger: { error: (message) => server.log.error(message) } },
  async ({ signal, err }) => {
    if (err) server.log.error({ err }, 'closing after an unexpected error')
    await shutdown(signal ?? null)
  },
)

void server.gate.exhausted.then(async () => {
  graceful.uninstall()
  // The same safety net close-with-grace gave: a close that never ends must not keep a service
  // that can no longer serve alive, its exit code never seen.
  setTimeout(() => process.exit(1), config.shutdownDrainMs + config.providerTimeoutMs + CLOSE_MARGIN_MS).unref()
  await shutdown(null)
  process.exit(1)
})

try {
  await server.listen({ port: config.port, host: config.host })
} catch (error) {
  const { code } = error as NodeJS.ErrnoException
  const reason = code === 'EADDRINUSE' ? `port ${config.port} is already in use` : (error as Error).message
  server.events.publish('listen-failed', { code: code ?? null, message: `cannot listen on ${config.host}:${config.port}: ${reason}` })
  // No process.exit(): the process ends by itself once closed, after every subscriber (gatekeep
  // dev's, over IPC) has sent what it was told. close-with-grace would take that end for a close
  // to run and exit 0.
  graceful.uninstall()
  process.exitCode = 1
  await server.close()
}
