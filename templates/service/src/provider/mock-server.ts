import closeWithGrace from 'close-with-grace'
import { ConfigError, loadDotEnv, readChoice, readInteger, readProject, readProjectSetting, readWebhookSecret } from '../config.js'
import { buildMockProvider, MOCK_PROVIDER_DEFAULTS, PROVIDER_MODES, type MockProviderOptions } from './mock.js'

// `npm run provider` (and `gatekeep dev`) run the mock provider alone with this entry.
loadDotEnv()
let port: number
let host: string
let options: MockProviderOptions
try {
  const env = process.env
  // The port and the delay are the project's (package.json "gatekeep"), as under `gatekeep dev`.
  const project = readProject()
  const delayMs = readProjectSetting(env, project, 'delay')
  const ttlS = readInteger(env, 'PROVIDER_TTL_S', 0, 0)
  port = readProjectSetting(env, project, 'providerPort')
  host = env.PROVIDER_HOST || '127.0.0.1'
  options = {
    ...MOCK_PROVIDER_DEFAULTS,
    secret: readWebhookSecret(env),
    delayMs,
    restartDelayMs: readInteger(env, 'PROVIDER_RESTART_DELAY_MS', delayMs, 0),
    mode: readChoice(env, 'PROVIDER_MODE', PROVIDER_MODES, 'ok'),
    ttlS: ttlS === 0 ? null : ttlS,
    dataLatencyMs: readInteger(env, 'PROVIDER_LATENCY_MS', MOCK_PROVIDER_DEFAULTS.dataLatencyMs, 0),
  }
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`error: ${error.message}\n`)
  process.exit(1)
}

const provider = buildMockProvider(options, { logger: { level: process.env.LOG_LEVEL || 'info' } })
closeWithGrace({ delay: 5000 }, async () => {
  await provider.close()
})
try {
  await provider.listen({ port, host })
  provider.log.info({ mode: options.mode, delayMs: options.delayMs, ttlS: options.ttlS }, 'mock provider ready')
} catch (error) {
  const { code } = error as NodeJS.ErrnoException
  const reason = code === 'EADDRINUSE' ? `port ${port} is already in use` : (error as Error).message
  provider.log.fatal({ event: 'listen-failed', code }, `cannot listen on ${host}:${port}: ${reason}`)
  process.exit(1)
}
