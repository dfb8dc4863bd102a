import { performance } from 'node:perf_hooks'
import type { onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { AbortEvent } from '../events.js'

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
  /** Set when the client hung up; told once no downstream call of the request is left. */
  detection: AbortEvent | null = null

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
    }
  }
}

/** The signal of a request outside the watched routes: nothing there aborts it. */
const NEVER_ABORTED = new AbortController().signal

/**
 * Detects a client hanging up on the response closing before it finished. The request's
 * `close` event is no use: it also fires once a POST body has been read; and `aborted` is
 * deprecated. Each abort is published (`abort`: logged and counted by their subscribers) once
 * it is known whether its downstream call was cancelled. When the server closes, it cancels
 * every watched request's downstream calls.
 */
export default fp(
  async function aborts(fastify) {
    const { events } = fastify
    const tell = (detection: AbortEvent) => events.publish('abort', detection)
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
        if (state.detection) state.detection.cancelled = true
        throw error
      } finally {
        state.downstreamInFlight -= 1
        if (state.detection && state.downstreamInFlight === 0) tell(state.detection)
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
        state.detection = {
          requestId: request.id,
          detectedAt: performance.timeOrigin + performance.now(),
          detectedAfterMs: reply.elapsedTime,
          // Settled to true by `downstream` once the cancelled call rejects.
          cancelled: state.downstreamInFlight > 0 ? false : null,
        }
        // 499, "client closed request": the status such a request gets in access logs.
        events.countRequest(499, null, true)
        state.abort()
        if (state.downstreamInFlight === 0) tell(state.detection)
      })
      done()
    }

    fastify.decorate('aborts', { watch })

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
  { name: 'aborts', dependencies: ['events'] },
)
