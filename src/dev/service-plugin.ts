/**
 * What `gatekeep dev` adds to the service it runs, and only there: the abort records that
 * `gatekeep simulate-abort` asks about (`GET /__gatekeep/aborts`), and the service side of dev's
 * commands. The runner attaches it to the first Fastify instance the process creates (Fastify's
 * `fastify.initialization` diagnostics channel hands it over), so that the project's own code,
 * and its production build, hold none of it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  CHANNEL_PREFIX,
  DEV_ROUTES,
  parseServiceEvent,
  type AbortAnswer,
  type AbortEvent,
  type AbortsAnswer,
} from '../project/contract.js'
import type { Commands } from './protocol.js'

const ABORT_CHANNEL = `${CHANNEL_PREFIX}abort`
/** Enough for any simulate-abort run, small enough to never matter for memory. */
const MAX_RECORDS = 10_000

/** The parts of a Fastify instance this plugin uses: the CLI does not depend on Fastify. */
interface FastifyInstance {
  register(plugin: FastifyPlugin): unknown
  get(path: string, handler: (request: { query: unknown }) => Promise<unknown>): unknown
  addHook(name: 'onClose', hook: () => Promise<void>): unknown
  /** The project's gate, decorated by its setup plugin once that has loaded. */
  readonly gate?: { expire?: unknown }
}

type FastifyPlugin = ((instance: FastifyInstance, options: unknown) => Promise<void>) & { [key: symbol]: boolean }

/** What dev's commands reach inside the service. */
export interface ServiceHandle {
  aborts(ids: readonly string[]): Commands['aborts']['result']
  expire(): Promise<Commands['expire']['result']>
}

/** The latest word on each aborted request: a later event for the same id (its call since cancelled) replaces it. */
class AbortRecords {
  readonly #records = new Map<string, AbortEvent>()

  add(event: AbortEvent): void {
    this.#records.delete(event.requestId)
    this.#records.set(event.requestId, event)
    if (this.#records.size > MAX_RECORDS) this.#records.delete(this.#records.keys().next().value as string)
  }

  answer(ids: readonly string[]): AbortsAnswer {
    return {
      results: ids.map((requestId): AbortAnswer => {
        const record = this.#records.get(requestId)
        return { requestId, detected: record !== undefined, detectedAt: record?.detectedAt ?? null, cancelled: record?.cancelled ?? null }
      }),
    }
  }
}

function idsOf(query: unknown): string[] {
  const ids = (query as { ids?: unknown } | null)?.ids
  return typeof ids === 'string' ? ids.split(',').filter(Boolean) : []
}

/**
 * Registers the dev plugin on `instance` (the service's, as it is created) and returns the
 * handle dev's commands use.
 */
export function attachDevPlugin(instance: unknown): ServiceHandle {
  const fastify = instance as FastifyInstance
  const records = new AbortRecords()
  fastify.register(devPlugin(records))
  return {
    aborts: (ids) => records.answer(ids),
    async expire() {
      const expire = fastify.gate?.expire
      if (typeof expire !== 'function') {
        throw new Error("this service's gate has no expire(): its src/gate.ts predates it; copy it from a project made by this gatekeep")
      }
      return { expired: Boolean(await (expire as () => Promise<unknown>).call(fastify.gate)) }
    },
  }
}

function devPlugin(records: AbortRecords): FastifyPlugin {
  const gatekeepDev = async (fastify: FastifyInstance) => {
    const onAbort = (message: unknown) => {
      const event = parseServiceEvent(message)
      if (event?.type === 'abort') records.add(event)
    }
    subscribe(ABORT_CHANNEL, onAbort)
    fastify.addHook('onClose', async () => {
      unsubscribe(ABORT_CHANNEL, onAbort)
    })
    fastify.get(DEV_ROUTES.aborts, async (request) => records.answer(idsOf(request.query)))
  }
  // What fastify-plugin sets: the route and hook belong to the root instance, not to a child
  // context of their own (the CLI does not depend on fastify-plugin for one flag).
  return Object.assign(gatekeepDev, { [Symbol.for('skip-override')]: true })
}
