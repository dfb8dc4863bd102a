import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { replyUnavailable } from './delay.js'
import { PROCESS_RETRY_MS } from './readiness.js'

/**
 * Connections that arrive in a burst (clients reconnecting as their answers close their sockets)
 * come closer together than this; once none has come for this long, the burst is over.
 */
const ARRIVALS_QUIET_MS = 50
/** The longest the close waits for arrivals to stop, for clients that never do. */
const ARRIVALS_MAX_WAIT_MS = 500
/**
 * How long a connection that has sent nothing may still send its request once the listener has
 * closed. Node never counts such a connection as idle and would keep the server, and so the
 * process, open for it until its headers timeout, a minute or more; a request already on its
 * way arrives well within this.
 */
const UNUSED_CONNECTION_GRACE_MS = 250

/** Resolves once `server` stops listening; Fastify closes it right after the preClose hooks. */
function listenerClosed(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (server.listening ? setImmediate(check) : resolve())
    check()
  })
}

/**
 * The end of a graceful shutdown, once the drain (server.ts) is over and the server closes.
 *
 * Closing a listener resets every connection still waiting in its accept queue, though its
 * client may have sent a request already; and under load, with every answer closing its
 * connection (readiness.ts), most clients are reconnecting at any moment. So the listener
 * closes only once connections have stopped arriving: until then, requests read are held, their
 * clients waiting on connections already accepted instead of reconnecting into the queue. Then
 * each gets the app's 503, with `Retry-After` and `x-request-id` (Fastify's own has neither:
 * `return503OnClosing: false` in app.ts), and its client, reconnecting, is refused.
 *
 * Connections that never sent a request are closed too, instead of holding the process.
 */
export default fp(
  async function shutdown(fastify) {
    let closing: Promise<void> | null = null
    let lastArrival = Number.NEGATIVE_INFINITY
    const connections = new Set<Socket>()
    fastify.server.on('connection', (socket: Socket) => {
      lastArrival = performance.now()
      connections.add(socket)
      socket.once('close', () => connections.delete(socket))
    })

    fastify.addHook('onRequest', (_request, reply, done) => {
      if (closing === null) {
        done()
        return
      }
      // Not calling done() ends the request here: no handler, no provider call.
      void closing.then(() => replyUnavailable(reply, PROCESS_RETRY_MS, 'shutdown'))
    })

    fastify.addHook('preClose', async () => {
      // However the close came (a signal, the gate giving up, a test), readiness fails from now
      // on and every answer closes its connection.
      fastify.readiness.beginShutdown()
      let answerHeld = () => {}
      closing = new Promise<void>((resolve) => (answerHeld = resolve))
      const deadline = performance.now() + ARRIVALS_MAX_WAIT_MS
      for (;;) {
        const now = performance.now()
        const quietFor = now - lastArrival
        if (!fastify.server.listening || quietFor >= ARRIVALS_QUIET_MS || now >= deadline) break
        await sleep(Math.min(ARRIVALS_QUIET_MS - quietFor, deadline - now))
      }
      void listenerClosed(fastify.server).then(() => {
        answerHeld()
        setTimeout(() => {
          for (const socket of connections) if (socket.bytesRead === 0) socket.destroy()
        }, UNUSED_CONNECTION_GRACE_MS).unref()
      })
    })
  },
  { name: 'shutdown', dependencies: ['headers', 'readiness'] },
)
