import { performance } from 'node:perf_hooks'
import type { onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'

export interface AbortRecord {
  requestId: string
  /** Epoch ms (fractional) when the response closed before it finished. */
  detectedAt: number
  /** Whether the downstream call in flight was cancelled; null when none was in flight. */
  cancelled: boolean | null
}

/**
 * The reason a request's signal carries when the service, shutting down, cancelled its
 * downstream calls: its client is still there and gets a 503 to retry elsewhere.
 */
export class ShutdownCancellation extends Error {
  constructor() {
    super('the service is shutting down')
    this.name = 'ShutdownCancellation'
  }
}

/** Per watched request. The controller is made on first use: most requests never need one. */
class AbortState {
  #controller: AbortController | null = null
  downstreamInFlight = 0
  record: AbortRecord | null = null

  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    return this.#controller.signal
  }

  /** Also before any call: a call started afterwards then fails at once. */
  abort(reason?: unknown): void {
    this.#controller ??= new AbortController()
    this.#controller.abort(reason)
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Aborts when the client hangs up; pass it to every downstream call of the request. */
    abortSignal: AbortSignal
    /**
     * Runs a downstream call with the request's abort signal, so that a client hanging up
     * cancels it and the cancellation is recorded.
     */
    downstream<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T>
    abortState: AbortState | null
  }
  interface FastifyInstance {
    aborts: {
      /** Add as an `onRequest` hook to the routes whose aborts should be detected. */
      watch: onRequestHookHandler
      /** The recent aborts among `requestIds` (dev tooling asks through `/__gatekeep/aborts`). */
      find(requestIds: string[]): AbortRecord[]
    }
  }
}

/** Enough for any simulate-abort run, small enough to never matter for memory. */
const MAX_RECORDS = 10_000

/** The signal of a request outside the watched routes: nothing there aborts it. */
const NEVER_ABORTED = new AbortController().signal

/**
 * Detects a client hanging up on the response closing before it finished. The request's
 * `close` event is no use: it also fires once a POST body has been read; and `aborted` is
 * deprecated. When the server closes, it cancels every watched request's downstream calls.
 */
export default fp(
  async function aborts(fastify) {
    const clientAborts = new Counter({
      name: 'gatekeep_client_aborts_total',
      help: 'Customer requests whose client hung up before the response finished.',
      registers: [fastify.metricsRegistry],
    })
    const records = new Map<string, AbortRecord>()
    // The watched requests not answered yet, for the shutdown to cancel.
    const unanswered = new Set<AbortState>()
    let shuttingDown = false

    fastify.decorateRequest('abortState', null)
    fastify.decorateRequest('abortSignal', {
      getter() {
        return this.abortState?.signal ?? NEVER_ABORTED
      },
    })
    fastify.decorateRequest('downstream', async function downstream<T>(
      this: import('fastify').FastifyRequest,
      call: (signal: AbortSignal) => Promise<T>,
    ): Promise<T> {
      const state = this.abortState
      if (state === null) return call(NEVER_ABORTED)
      state.downstreamInFlight += 1
      try {
        return await call(state.signal)
      } catch (error) {
        if (state.record) state.record.cancelled = true
        throw error
      } finally {
        state.downstreamInFlight -= 1
      }
    })

    const watch: onRequestHookHandler = function watchForAbort(request, reply, done) {
      const state = new AbortState()
      request.abortState = state
      if (shuttingDown) state.abort(new ShutdownCancellation())
      else unanswered.add(state)
      const response = reply.raw
      response.on('close', () => {
        unanswered.delete(state)
        if (response.writableFinished) return
        const record: AbortRecord = {
          requestId: request.id,
          detectedAt: performance.timeOrigin + performance.now(),
          // Settled to true by `downstream` once the cancelled call rejects.
          cancelled: state.downstreamInFlight > 0 ? false : null,
        }
        state.record = record
        records.set(record.requestId, record)
        if (records.size > MAX_RECORDS) records.delete(records.keys().next().value as string)
        clientAborts.inc()
        request.log.info({ event: 'client-abort', downstreamInFlight: state.downstreamInFlight }, 'client hung up before the response finished')
        state.abort()
      })
      done()
    }

    fastify.decorate('aborts', {
      watch,
      find: (requestIds: string[]) => requestIds.flatMap((id) => records.get(id) ?? []),
    })

    // preClose, not onClose: Fastify waits for every response before its onClose hooks run, so a
    // request waiting on a slow provider would hold the close, and the process, until the
    // provider's timeout. Its customer gets a 503 instead (routes/customer.ts).
    fastify.addHook('preClose', (done) => {
      shuttingDown = true
      for (const state of unanswered) state.abort(new ShutdownCancellation())
      unanswered.clear()
      done()
    })
  },
  { name: 'aborts', dependencies: ['metrics'] },
)
