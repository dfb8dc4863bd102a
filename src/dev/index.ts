import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { UsageError, WorkError } from '../errors.js'
import { EVENTS_MODULE, PROVIDER_ENTRY, SERVICE_ENTRY } from '../project/contract.js'
import { findProject } from '../project/root.js'
import { interactive } from '../ui.js'
import { DevProcess } from './child.js'
import { createDotEnv, readDotEnv, readWebhookSecret } from './dot-env.js'
import { IgnoredMessages } from './ignored-messages.js'
import { listenForKeys } from './keys.js'
import { LogView, serviceTags } from './log-view.js'
import { assertPortFree } from './ports.js'
import { startDevConsole } from './dev-console.js'
import { DevSession } from './session.js'
import { resolveDevSettings, type DevFlags } from './settings.js'
import { alreadyRunningError, StateFile } from './state-file.js'

/** pino's levels: the service and the provider refuse any other, so dev refuses it before starting them. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface DevOptions {
  /** Tell each message from a child that is no gatekeep event (else only the first). */
  verbose: boolean
}

/** The host part of a URL reaching a server bound to `host`. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

function checkLogLevel(value: string | undefined): void {
  if (value && !LOG_LEVELS.includes(value)) {
    throw new UsageError(`LOG_LEVEL=${value}: expected one of: ${LOG_LEVELS.join(', ')}.`)
  }
}

/** `gatekeep dev`: everything is checked before anything is written or started. */
export async function runDev(flags: DevFlags, { verbose }: DevOptions): Promise<void> {
  const project = findProject(process.cwd())
  const { root } = project
  const env = process.env
  const dotEnv = readDotEnv(root)
  const settings = resolveDevSettings(flags, { env, dotEnv, config: project.config })
  const existingSecret = readWebhookSecret(env, dotEnv)
  checkLogLevel(env.LOG_LEVEL ?? dotEnv?.LOG_LEVEL)
  const host = env.HOST || dotEnv?.HOST || '127.0.0.1'
  const providerHost = env.PROVIDER_HOST || dotEnv?.PROVIDER_HOST || '127.0.0.1'

  for (const entry of [SERVICE_ENTRY, PROVIDER_ENTRY]) {
    if (!existsSync(path.join(root, entry))) {
      throw new WorkError(`${entry} is missing in ${root}; gatekeep dev runs the service and the mock provider from it.`)
    }
  }
  if (!existsSync(path.join(root, EVENTS_MODULE))) {
    throw new UsageError(
      `this project was made by an earlier gatekeep: it has no ${EVENTS_MODULE}, the event channel gatekeep dev follows the service through. ` +
        'To upgrade, generate a project with `npx gatekeep init <new-dir>` and carry your changes over to its src/ ' +
        `(${EVENTS_MODULE} and the files that publish to it), or run the gatekeep it was made with.`,
    )
  }
  try {
    createRequire(path.join(root, 'package.json')).resolve('tsx')
  } catch {
    throw new WorkError(`tsx is not installed in ${root}; run \`npm install\` there first.`)
  }
  // Before the ports: a session already running here is what would hold them.
  const stateFile = new StateFile(root)
  const running = stateFile.liveSession()
  if (running) throw alreadyRunningError(running)
  const instances = serviceTags(settings.instances).map((tag, index) => ({ tag, port: settings.port + index }))
  for (const { port } of instances) await assertPortFree(port, host, '--port')
  await assertPortFree(settings.providerPort, providerHost, '--provider-port')
  if (settings.consolePort !== null) await assertPortFree(settings.consolePort, '127.0.0.1', '--console-port')

  const view = new LogView(instances.map(({ tag }) => tag))
  let webhookSecret = existingSecret
  if (webhookSecret === null) {
    webhookSecret = createDotEnv(root, { store: settings.store })
    view.gatekeep('created .env with a fresh webhook secret')
  }

  const providerUrl = `http://${reachableHost(providerHost)}:${settings.providerPort}`
  // LOG_LEVEL is the project's (the environment's, else .env's, which the children read): dev
  // follows them through their events, whatever they log.
  const shared = { ...env, WEBHOOK_SECRET: webhookSecret } as Record<string, string>
  const session = new DevSession({
    root,
    services: instances.map(({ tag, port }) => {
      const url = `http://${reachableHost(host)}:${port}`
      return { tag, url, env: { ...shared, PORT: String(port), PROVIDER_URL: providerUrl, PUBLIC_URL: url } }
    }),
    provider: {
      url: providerUrl,
      env: {
        ...shared,
        PROVIDER_PORT: String(settings.providerPort),
        PROVIDER_DELAY_MS: String(settings.delayMs),
        PROVIDER_RESTART_DELAY_MS: String(settings.restartDelayMs),
        PROVIDER_MODE: settings.mode,
        PROVIDER_TTL_S: String(settings.ttlS),
      },
    },
    watch: settings.watch,
    view,
    stateFile,
    ignoredMessages: new IgnoredMessages(view, { verbose }),
    countdown: interactive(),
    spawnChild: (spec) => new DevProcess({ root, ...spec }),
    keys: listenForKeys,
  })

  const devConsole = await startDevConsole({
    host: session,
    services: instances.map(({ tag, port }) => ({ source: tag, url: `http://${reachableHost(host)}:${port}` })),
    provider: { url: providerUrl, mode: settings.mode },
    trafficRps: settings.trafficRps,
    consolePort: settings.consolePort,
    tell: (line) => view.gatekeep(line),
  })
  if (devConsole.announced !== null) {
    session.announceConsole(devConsole.announced)
    view.gatekeep(`console  ${devConsole.announced.url}`)
  }

  const onSignal = (signal: NodeJS.Signals) => session.requestStop(signal)
  const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const signal of stopSignals) process.on(signal, onSignal)
  try {
    const end = await session.run()
    // Its children are killed, dev.json is removed: nothing is left to wait for, and handles
    // still closing from the graceful stop it cut short would only hold the exit back.
    if (end === 'forced') process.exit(130)
  } finally {
    for (const signal of stopSignals) process.off(signal, onSignal)
    // A tab left open must not hold dev up: its stream is ended with the rest.
    await devConsole.close()
  }
}
