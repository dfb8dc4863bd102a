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

/** Per watched request. The controller is made on first use: most requests never need one. */
class AbortState {
  #controller: AbortController | null = null
  downstreamInFlight = 0
  record: AbortRecord | null = null

  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    return this.#controller.signal
  }

  abort(): void {
    this.#controller?.abort()
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
 * deprecated.
 */
export default fp(
  async function aborts(fastify) {
    const clientAborts = new Counter({
      name: 'gatekeep_client_aborts_total',
      help: 'Customer requests whose client hung up before the response finished.',
      registers: [fastify.metricsRegistry],
    })
    const records = new Map<string, AbortRecord>()

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
      const response = reply.raw
      response.on('close', () => {
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
  },
  { name: 'aborts', dependencies: ['metrics'] },
)
