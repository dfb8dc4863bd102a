// What `gatekeep dev` adds for its console: the customer traffic, the console's actions over
// the session, and the console server itself (unless --no-console). The traffic runs either way:
// `--traffic` is told in the terminal too.
import { randomBytes } from 'node:crypto'
import { Agent } from 'undici'
import { chooseSource, counterDelta, serviceAnswers } from '../abort/detection.js'
import { reportFromMetrics, reportFromService, summaryLine } from '../abort/report.js'
import { requestIds, sendAll } from '../abort/send.js'
import type { ActionResult } from '../console/types.js'
import { PROVIDER_MODES, type ProviderMode } from '../project/contract.js'
import { DevConsoleSession, type ConsoleActions } from './console-session.js'
import type { FeedSubscriber } from './feed.js'
import { CUSTOMER_PATH, Traffic } from './traffic.js'

/** How long after sending each request "Simulate abort" hangs up: while the service waits downstream. */
const ABORT_AFTER_MS = 200

/** What the dev session offers its console. */
export interface ConsoleHost {
  subscribe(subscriber: FeedSubscriber): () => void
  /** False once dev is quitting. */
  restart(reason: string): boolean
  /** How many callbacks the provider delivers now. */
  fire(): Promise<number>
  /** False when there was no key to expire. */
  expire(): Promise<boolean>
  /** Switches the provider's mode live, and for every later provider dev starts. */
  setProviderMode(mode: ProviderMode): Promise<void>
  /** The instances listening now, in port order. */
  listeningServices(): string[]
}

export interface DevConsoleOptions {
  host: ConsoleHost
  services: readonly { source: string; url: string }[]
  provider: { url: string; mode: ProviderMode }
  trafficRps: number
  /** null: --no-console. */
  consolePort: number | null
  /** One of dev's own lines. */
  tell(line: string): void
}

export interface DevConsole {
  /** Where the console listens and its token, for dev.json; null with --no-console. */
  readonly announced: { url: string; token: string } | null
  /** Stops the traffic and closes the console's connections. */
  close(): Promise<void>
}

const failed = (what: string, error: unknown): ActionResult => ({ applied: false, reason: `${what}: ${(error as Error).message}` })

/** Sends `count` customer requests to `baseUrl`, hangs up on each, and asks the service what it saw. */
async function simulateAbort(baseUrl: string, count: number): Promise<string> {
  const dispatcher = new Agent()
  try {
    const reporting = await chooseSource(dispatcher, baseUrl)
    const plan = { url: `${baseUrl}${CUSTOMER_PATH}`, method: 'GET' as const, body: undefined, concurrency: count, afterMs: ABORT_AFTER_MS }
    const ids = requestIds(count)
    const sent = await sendAll(dispatcher, plan, ids)
    const aborted = new Set(sent.filter((request) => request.outcome === 'aborted').map((request) => request.requestId))
    const report =
      reporting.source === 'service'
        ? reportFromService(plan.url, sent, await serviceAnswers(dispatcher, baseUrl, ids, aborted))
        : reportFromMetrics(plan.url, sent, await counterDelta(dispatcher, baseUrl, reporting.baseline, aborted.size))
    return summaryLine(report)
  } finally {
    await dispatcher.destroy()
  }
}

export async function startDevConsole(options: DevConsoleOptions): Promise<DevConsole> {
  const { host, tell } = options
  const traffic = new Traffic({ targets: () => host.listeningServices(), tell })
  let mode = options.provider.mode

  const actions: ConsoleActions = {
    async fire() {
      try {
        const delivering = await host.fire()
        return delivering > 0
          ? { applied: true, changed: `the provider calls back now (${delivering} pending)` }
          : { applied: false, reason: 'no callback is pending at the provider (no handshake awaits its webhook)' }
      } catch (error) {
        return failed('the provider did not answer', error)
      }
    },
    async restart() {
      return host.restart('asked from the console')
        ? { applied: true, changed: 'the service restarts' }
        : { applied: false, reason: 'gatekeep dev is quitting' }
    },
    async expire() {
      try {
        return (await host.expire())
          ? { applied: true, changed: 'the key expired: every gate closes (key-expired) and a new handshake runs' }
          : { applied: false, reason: 'there was no key to expire (no gate is open)' }
      } catch (error) {
        return failed('the key could not be expired', error)
      }
    },
    async setMode(wanted) {
      const from = mode
      try {
        await host.setProviderMode(wanted as ProviderMode)
      } catch (error) {
        return failed('the provider did not take it', error)
      }
      mode = wanted as ProviderMode
      session.tellDev({ type: 'provider-mode', mode })
      return { applied: true, changed: `provider mode: ${mode} (was ${from})` }
    },
    async setTraffic(rps) {
      traffic.setRate(rps)
      session.tellDev({ type: 'traffic', rps })
      return { applied: true, changed: rps === 0 ? 'traffic stopped' : `traffic: ${rps} requests/s to ${CUSTOMER_PATH}` }
    },
    async abort(count) {
      const target = host.listeningServices()[0]
      if (target === undefined) return { applied: false, reason: 'no service instance is listening' }
      try {
        return { applied: true, changed: await simulateAbort(target, count) }
      } catch (error) {
        return failed('the aborts could not be sent', error)
      }
    },
  }

  const session = new DevConsoleSession({
    services: options.services,
    provider: options.provider,
    modes: PROVIDER_MODES,
    trafficRps: options.trafficRps,
    actions,
  })
  const unsubscribe = host.subscribe((event) => session.tell(event))
  traffic.setRate(options.trafficRps)

  let running: { url: string; close(): Promise<void> } | null = null
  const token = randomBytes(24).toString('base64url')
  if (options.consolePort !== null) {
    // Loaded on use: `--no-console` reads no page from disk.
    const { startConsole } = await import('../console/server.js')
    try {
      running = await startConsole({ session, port: options.consolePort, token })
    } catch (error) {
      unsubscribe()
      traffic.close()
      throw error
    }
  }

  return {
    announced: running === null ? null : { url: running.url, token },
    async close() {
      unsubscribe()
      traffic.close()
      await running?.close()
    },
  }
}
