import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { RateLimitConfig } from '../config.js'
import type { GateStore } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    limits: {
      /**
       * @fastify/rate-limit's options for the customer routes, registered by `delay()` inside the
       * gate's scope: its per-route hook runs after the gate's, so a refused request never pays
       * for it. null with RATE_LIMIT=off.
       */
      customers: RateLimitPluginOptions | null
      /**
       * Counts a failed webhook signature check against the request's client. Returns the
       * seconds to wait once the client is past RATE_LIMIT_WEBHOOK_FAILURES in the minute (its
       * forged webhooks then get 429), else null. Valid webhooks are never counted or refused.
       */
      countWebhookFailure(request: FastifyRequest): Promise<number | null>
    }
  }
}

/** A limited request; the error handler answers it with the one error shape (plugins/errors.ts). */
export class TooManyRequests extends Error {
  readonly statusCode = 429
  constructor(retryAfterSeconds: number) {
    super(`too many requests; retry in ${retryAfterSeconds} s`)
    this.name = 'TooManyRequests'
  }
}

const WEBHOOK_FAILURE_WINDOW_MS = 60_000

export interface RateLimitOptions {
  /** null: RATE_LIMIT=off. */
  config: RateLimitConfig | null
  /** The gate's store: a shared one shares the counts between instances. */
  store: GateStore
}

/**
 * Per-client limits with @fastify/rate-limit. A client is `request.ip`: the socket's address,
 * or what X-Forwarded-For says once TRUST_PROXY names the proxies it came through (Fastify's
 * `trustProxy`, app.ts). `skipOnError`: a store outage lets requests through rather than failing
 * them.
 */
export default fp(
  async function limits(fastify, { config, store }: RateLimitOptions) {
    if (config === null) {
      fastify.decorate('limits', { customers: null, countWebhookFailure: async () => null })
      return
    }
    const shared = store.rateLimit
    const common = { skipOnError: true, ...(shared && { redis: shared.redis }) } satisfies RateLimitPluginOptions

    // Registered here with no route of its own (`global: false`): only the webhook's failures
    // are counted through it, by hand.
    await fastify.register(rateLimit, {
      ...common,
      global: false,
      max: config.webhookFailures,
      timeWindow: WEBHOOK_FAILURE_WINDOW_MS,
      ...(shared && { nameSpace: `${shared.nameSpace}webhook-failures:` }),
    })
    const countFailure = fastify.createRateLimit()

    fastify.decorate('limits', {
      customers: {
        ...common,
        max: config.max,
        timeWindow: config.windowMs,
        ...(shared && { nameSpace: `${shared.nameSpace}customers:` }),
        errorResponseBuilder: (_request, { ttl }) => new TooManyRequests(Math.max(1, Math.ceil(ttl / 1000))),
        // Counted in the request totals as refused by the limiter (plugins/delay.ts).
        onExceeded: (request: FastifyRequest) => {
          request.refusal = 'limiter'
        },
      },
      async countWebhookFailure(request: FastifyRequest) {
        const limit = await countFailure(request)
        return !limit.isAllowed && limit.isExceeded ? Math.max(1, limit.ttlInSeconds) : null
      },
    })
  },
  { name: 'rate-limit', dependencies: ['events'] },
)
