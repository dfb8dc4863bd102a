import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import { TooManyRequests } from '../plugins/rate-limit.js'
import { inSpan } from '../spans.js'
import { isWebhookPayload } from '../validate.js'

export interface WebhookRouteOptions {
  secret: string
}

/** A webhook body is a few hundred bytes; anything near this is not our provider. */
const BODY_LIMIT = 64 * 1024

/** Longer than the 5-minute timestamp tolerance, so a replay within it is always recognised. */
const SEEN_ID_TTL_MS = 10 * 60 * 1000
const SEEN_ID_LIMIT = 10_000

/**
 * Providers that sign through Svix send the same scheme under `svix-*` names. As Svix's own
 * verifier does, a complete `svix-*` set is the one checked, else a complete `webhook-*` set;
 * names are never mixed across sets, and an empty value counts as missing.
 */
const HEADER_SETS = [
  ['svix-id', 'svix-timestamp', 'svix-signature'],
  ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
] as const

function signatureHeaders(headers: IncomingHttpHeaders): { id: string; timestamp: string; signature: string } | null {
  for (const [idName, timestampName, signatureName] of HEADER_SETS) {
    const id = headers[idName]
    const timestamp = headers[timestampName]
    const signature = headers[signatureName]
    if (typeof id === 'string' && id && typeof timestamp === 'string' && timestamp && typeof signature === 'string' && signature) {
      return { id, timestamp, signature }
    }
  }
  return null
}

/**
 * The provider's callback, signed per the Standard Webhooks spec. Bad input never changes the
 * gate and never gets a 5xx: 401 bad signature, 400 bad body, 413 too large, 429 once a client's
 * failed signatures pass the limit; a message id seen before is acknowledged and not applied again.
 */
export default async function webhookRoutes(fastify: FastifyInstance, { secret }: WebhookRouteOptions) {
  const webhook = new Webhook(secret)
  const { events } = fastify
  const seenIds = new Map<string, number>()

  function remember(id: string): void {
    const now = Date.now()
    seenIds.set(id, now + SEEN_ID_TTL_MS)
    for (const [seenId, expiresAt] of seenIds) {
      if (expiresAt > now && seenIds.size <= SEEN_ID_LIMIT) break
      seenIds.delete(seenId)
    }
  }

  /**
   * A failed signature check counts against its client: past RATE_LIMIT_WEBHOOK_FAILURES in a
   * minute, its unsigned and forged webhooks get 429 instead of 401, and are no longer logged one
   * by one. Only failures count, after the check: a valid webhook is never refused, whoever
   * floods from the same address.
   */
  async function cutOffFlood(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const retryAfterSeconds = await fastify.limits.countWebhookFailure(request)
    if (retryAfterSeconds === null) return
    reply.header('retry-after', String(retryAfterSeconds))
    throw new TooManyRequests(retryAfterSeconds)
  }

  // The signature covers the exact bytes sent: keep the body raw, whatever its content type.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) => {
    done(null, body)
  })

  fastify.post('/webhook', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const body = typeof request.body === 'string' ? request.body : ''
    const reqId = request.id
    const signed = signatureHeaders(request.headers)
    if (signed === null) {
      await cutOffFlood(request, reply)
      events.publish('webhook', { outcome: 'refused', reqId, refusal: 'unsigned', reason: 'no signature headers' })
      return reply.code(401).send({
        error: 'missing webhook-id, webhook-timestamp or webhook-signature (or svix-id, svix-timestamp, svix-signature)',
      })
    }
    // Whichever names carried it, the id is the message's: a replay under the other names is still seen.
    const { id, timestamp, signature } = signed
    try {
      webhook.verify(body, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false })
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error
      await cutOffFlood(request, reply)
      events.publish('webhook', { outcome: 'refused', reqId, refusal: 'bad-signature', reason: error.message })
      return reply.code(401).send({ error: 'invalid webhook signature or timestamp' })
    }

    const expiresAt = seenIds.get(id)
    if (expiresAt !== undefined && expiresAt > Date.now()) {
      events.publish('webhook', { outcome: 'duplicate', reqId })
      return reply.code(200).send({ received: true, applied: false, duplicate: true })
    }

    let payload: unknown
    try {
      payload = JSON.parse(body)
    } catch {
      events.publish('webhook', { outcome: 'refused', reqId, refusal: 'bad-body', reason: 'body is not JSON' })
      return reply.code(400).send({ error: 'webhook body is not JSON' })
    }
    if (!isWebhookPayload(payload)) {
      events.publish('webhook', { outcome: 'refused', reqId, refusal: 'bad-body', reason: 'body is not a webhook' })
      return reply.code(400).send({ error: 'webhook body must be {"requestId","magicKey","expiresIn"?}' })
    }

    const { requestId } = payload
    // Told before it is applied, so that events read in order: received, then the gate opening.
    events.publish('webhook', { outcome: 'received', reqId, requestId })
    let outcome: Awaited<ReturnType<typeof fastify.gate.acceptWebhook>>
    try {
      outcome = await inSpan('gatekeep.webhook.apply', { 'gatekeep.handshake.request_id': requestId }, async (span) => {
        const accepted = await fastify.gate.acceptWebhook(payload)
        span.setAttribute('gatekeep.webhook.outcome', accepted)
        return accepted
      })
    } catch (error) {
      // The store is down: not the sender's fault, and a 503 makes the provider deliver again.
      events.publish('webhook', { outcome: 'deferred', reqId, requestId, reason: (error as Error).message })
      return reply.code(503).header('retry-after', '1').send({ error: 'store unavailable; deliver again' })
    }
    if (outcome === 'early') {
      // The provider redelivers with the same id, so this one is not remembered yet.
      events.publish('webhook', { outcome: 'early', reqId, requestId })
      return reply.code(409).send({ error: 'handshake not registered yet; deliver again' })
    }
    remember(id)
    events.publish('webhook', { outcome: outcome === 'opened' ? 'applied' : 'stale', reqId, requestId })
    return { received: true, applied: outcome === 'opened' }
  })
}
