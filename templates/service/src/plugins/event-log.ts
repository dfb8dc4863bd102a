import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import type { GatekeepEvents, Published } from '../events.js'

// The service's log lines about its gate, handshakes, webhooks, store and provider breaker, written from its events.
// Their `event` fields are stable: `gatekeep dev` and your log queries may rely on them.

function logGate(log: FastifyBaseLogger, { state, from, reason, etaMs, elapsedMs, requestId, refresh }: Published<'gate'>): void {
  if (from === 'open' && state !== 'open') {
    log.warn({ event: 'gate-closed', reason }, `gate closed: ${reason}`)
  } else if (state === 'open' && from !== 'open') {
    log.info({ event: 'gate-open', elapsedMs }, `gate open after ${elapsedMs} ms: serving customers`)
  } else if (requestId !== undefined) {
    log.info({ event: 'gate-pending', requestId, etaMs }, `handshake started; the provider expects to call back in ${etaMs} ms`)
  } else {
    log.debug({ event: 'gate-state', state, reason, refresh }, `gate ${state}${refresh ? ` (refresh ${refresh})` : ''}`)
  }
}

function logHandshake(log: FastifyBaseLogger, { outcome, attempt, error, message, retryInMs, refreshed, expiresAt }: Published<'handshake'>): void {
  switch (outcome) {
    case 'failed':
      log.warn({ event: 'handshake-failed', attempt, retryInMs, cause: error, reason: message }, `handshake failed (${message}); retrying in ${retryInMs} ms`)
      break
    case 'exhausted':
      log.error({ event: 'gate-exhausted', attempts: attempt, reason: message }, 'handshake failed too many times; giving up')
      break
    case 'completed':
      if (refreshed) log.info({ event: 'key-refreshed', expiresAt }, 'key refreshed')
      break
    case 'started':
      // The gate's awaiting-webhook line says it, with the provider's request id and ETA.
      break
  }
}

function logWebhook(log: FastifyBaseLogger, { outcome, reqId, requestId, refusal, reason }: Published<'webhook'>): void {
  switch (outcome) {
    case 'received':
      log.info({ reqId, event: 'webhook-received', requestId }, 'webhook received')
      break
    case 'refused':
      // A bad signature is likely a secret that differs from the provider's; anyone can send the
      // others, and the request's own line (401, 400) tells of them.
      if (refusal === 'bad-signature') log.warn({ reqId, event: 'webhook-refused', reason }, 'webhook refused: bad signature')
      break
    case 'stale':
      log.info({ reqId, event: 'webhook-ignored', requestId }, 'webhook for a handshake no longer in flight; ignored')
      break
    case 'deferred':
      log.warn({ reqId, event: 'webhook-deferred', reason }, 'webhook not applied: store unavailable')
      break
    case 'duplicate':
    case 'early':
    case 'applied':
      // Its request's own line (200, 409) says it, and an applied one is followed by gate-open.
      break
  }
}

function logStore(log: FastifyBaseLogger, { up }: GatekeepEvents['store']): void {
  if (up) log.info({ event: 'store-available' }, 'Redis store available')
  else log.warn({ event: 'store-unavailable' }, 'Redis store unavailable; retrying in the background')
}

function logShutdown(log: FastifyBaseLogger, { phase, signal, drainMs }: Published<'shutdown'>): void {
  if (phase === 'closing') {
    log.debug({ event: 'closing' }, 'drain over: no new connections; answering what was read')
  } else {
    const drain = drainMs ? `; readiness now 503, draining for ${drainMs} ms` : ''
    log.info({ event: 'shutting-down', signal, drainMs }, `${signal ?? 'close'} received: shutting down${drain}`)
  }
}

function logBreaker(log: FastifyBaseLogger, { state }: Published<'breaker'>): void {
  switch (state) {
    case 'open':
      log.warn({ event: 'breaker-open' }, 'provider failing: circuit breaker open; customer data calls answer 503 at once')
      break
    case 'half-open':
      log.info({ event: 'breaker-half-open' }, 'circuit breaker half-open: one trial call goes to the provider')
      break
    case 'closed':
      log.info({ event: 'breaker-closed' }, 'circuit breaker closed: the provider answers again')
      break
  }
}

function logListenFailed(log: FastifyBaseLogger, { code, message }: Published<'listen-failed'>): void {
  log.fatal({ event: 'listen-failed', code }, message)
}

function logAbort(log: FastifyBaseLogger, { requestId, detectedAfterMs, cancelled }: Published<'abort'>): void {
  log.info(
    { reqId: requestId, event: 'client-abort', detectedAfterMs, cancelled },
    `client hung up before the response finished${cancelled === null ? '' : cancelled ? '; its provider call was cancelled' : '; its provider call was NOT cancelled'}`,
  )
}

/** Turns this app's events into its log lines; several apps in one process each log their own. */
export default fp(
  async function eventLog(fastify) {
    const { events, log } = fastify
    const unsubscribes = [
      events.subscribe('gate', (event) => logGate(log, event)),
      events.subscribe('handshake', (event) => logHandshake(log, event)),
      events.subscribe('webhook', (event) => logWebhook(log, event)),
      events.subscribe('store', (event) => logStore(log, event)),
      events.subscribe('shutdown', (event) => logShutdown(log, event)),
      events.subscribe('abort', (event) => logAbort(log, event)),
      events.subscribe('listen-failed', (event) => logListenFailed(log, event)),
      events.subscribe('breaker', (event) => logBreaker(log, event)),
    ]
    fastify.addHook('onClose', async () => {
      for (const unsubscribe of unsubscribes) unsubscribe()
    })
  },
  { name: 'event-log', dependencies: ['events'] },
)
