import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'

export const PROVIDER_MODES = ['ok', 'reject', 'never', 'flaky', 'bad-signature', 'wrong-key', 'slow-data'] as const
export type ProviderMode = (typeof PROVIDER_MODES)[number]

export interface MockProviderOptions {
  /** The webhook secret shared with the service. */
  secret: string
  /** Before the first authorization's webhook. */
  delayMs: number
  /** Before every later authorization's webhook (a restarted or refreshing service). */
  restartDelayMs: number
  mode: ProviderMode
  /** Lifetime of issued keys in seconds; null: keys never expire. */
  ttlS: number | null
  /** How long `GET /data` takes to answer. */
  dataLatencyMs: number
  /** How long `GET /data` takes in `slow-data` mode: longer than any sane client timeout. */
  slowDataMs: number
  /** First pause before delivering a failed webhook again; doubles each time. */
  redeliveryBaseMs: number
  /** Delivery attempts per webhook before giving up. */
  deliveryAttempts: number
}

export const MOCK_PROVIDER_DEFAULTS: Omit<MockProviderOptions, 'secret'> = {
  delayMs: 5000,
  restartDelayMs: 5000,
  mode: 'ok',
  ttlS: null,
  dataLatencyMs: 700,
  slowDataMs: 60_000,
  redeliveryBaseMs: 250,
  deliveryAttempts: 8,
}

interface PendingCallback {
  callbackUrl: string
  requestId: string
  timer: NodeJS.Timeout
}

const MAX_REDELIVERY_PAUSE_MS = 5000

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const { protocol } = new URL(value)
    return protocol === 'http:' || protocol === 'https:'
  } catch {
    return false
  }
}

/**
 * A stand-in for the outside party: accepts an authorization, calls the webhook back after a
 * delay with a signed key, and serves data to holders of a valid key. Modes inject its faults.
 */
export function buildMockProvider(
  options: MockProviderOptions,
  fastifyOptions: FastifyServerOptions = { logger: true },
): FastifyInstance {
  const provider = Fastify(fastifyOptions)
  const signer = new Webhook(options.secret)
  // bad-signature signs with a secret the service does not know.
  const wrongSigner = new Webhook(`whsec_${Buffer.from(randomUUID()).toString('base64')}`)
  const issuedKeys = new Map<string, number | null>()
  const pending = new Map<string, PendingCallback>()
  const deliveries = new Set<AbortController>()
  const stats = { authorizations: 0, webhooksDelivered: 0, dataCalls: 0, dataCallsCancelled: 0 }
  // Switched live by `POST /__provider/mode` (the dev console), so read on every request.
  let mode: ProviderMode = options.mode

  function issueKey(): { magicKey: string; expiresIn?: number } {
    const magicKey = `mk_${randomUUID()}`
    issuedKeys.set(magicKey, options.ttlS === null ? null : Date.now() + options.ttlS * 1000)
    return options.ttlS === null ? { magicKey } : { magicKey, expiresIn: options.ttlS }
  }

  function keyIsValid(key: string): boolean {
    if (mode === 'wrong-key' || !issuedKeys.has(key)) return false
    const expiresAt = issuedKeys.get(key)
    return expiresAt === null || expiresAt === undefined || expiresAt > Date.now()
  }

  /** Delivers one webhook, again with backoff on failure, under one message id as the spec says. */
  async function deliver({ callbackUrl, requestId }: PendingCallback): Promise<void> {
    pending.delete(requestId)
    const messageId = `msg_${randomUUID()}`
    const body = JSON.stringify({ requestId, ...issueKey() })
    const controller = new AbortController()
    deliveries.add(controller)
    try {
      for (let attempt = 1; attempt <= options.deliveryAttempts && !controller.signal.aborted; attempt += 1) {
        const timestamp = new Date()
        const signature = (mode === 'bad-signature' ? wrongSigner : signer).sign(messageId, timestamp, body)
        try {
          const response = await request(callbackUrl, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'webhook-id': messageId,
              'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
              'webhook-signature': signature,
            },
            body,
            signal: controller.signal,
          })
          await response.body.dump()
          if (response.statusCode >= 200 && response.statusCode < 300) {
            stats.webhooksDelivered += 1
            provider.log.info({ requestId, attempt }, 'webhook delivered')
            return
          }
          provider.log.warn({ requestId, attempt, statusCode: response.statusCode }, 'webhook refused; delivering again')
        } catch (error) {
          if (controller.signal.aborted) return
          provider.log.warn({ requestId, attempt, reason: (error as Error).message }, 'webhook delivery failed')
        }
        const pauseMs = Math.min(MAX_REDELIVERY_PAUSE_MS, options.redeliveryBaseMs * 2 ** (attempt - 1))
        await new Promise((resolve) => setTimeout(resolve, pauseMs).unref())
      }
    } finally {
      deliveries.delete(controller)
    }
  }

  provider.post<{ Body: { callbackUrl?: unknown } }>('/authorize', async (req, reply) => {
    stats.authorizations += 1
    const callbackUrl = req.body?.callbackUrl
    if (!isHttpUrl(callbackUrl)) {
      return reply.code(400).send({ error: 'callbackUrl must be an http(s) URL' })
    }
    // flaky: the first of every pair fails, so a test sees a failure then a recovery.
    if (mode === 'reject' || (mode === 'flaky' && stats.authorizations % 2 === 1)) {
      return reply.code(500).send({ error: 'authorization failed' })
    }
    const requestId = randomUUID()
    const etaMs = stats.authorizations === 1 ? options.delayMs : options.restartDelayMs
    if (mode !== 'never') {
      const callback: PendingCallback = {
        callbackUrl,
        requestId,
        timer: setTimeout(() => void deliver(callback), etaMs),
      }
      pending.set(requestId, callback)
    }
    req.log.info({ requestId, etaMs }, 'authorization accepted')
    return reply.code(202).send({ requestId, etaMs })
  })

  provider.get('/data', async (req, reply) => {
    stats.dataCalls += 1
    const header = req.headers.authorization ?? ''
    const key = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : ''
    if (!keyIsValid(key)) return reply.code(401).send({ error: 'invalid key' })

    const latencyMs = mode === 'slow-data' ? options.slowDataMs : options.dataLatencyMs
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), latencyMs)
      reply.raw.once('close', () => {
        clearTimeout(timer)
        resolve(false)
      })
    })
    if (!answered) {
      stats.dataCallsCancelled += 1
      req.log.info('caller hung up; stopped')
      // Nobody reads this; 499 ("client closed request") is for the logs.
      return reply.code(499).send()
    }
    return { sensitive: true }
  })

  provider.get('/__provider/stats', async () => stats)

  provider.post<{ Body: { mode?: unknown } | null }>('/__provider/mode', async (req, reply) => {
    const wanted = req.body?.mode
    if (typeof wanted !== 'string' || !(PROVIDER_MODES as readonly string[]).includes(wanted)) {
      return reply.code(400).send({ error: `mode must be one of: ${PROVIDER_MODES.join(', ')}` })
    }
    const from = mode
    mode = wanted as ProviderMode
    req.log.info({ mode, from }, 'mode switched')
    return { mode, from }
  })

  provider.post('/__provider/callback-now', async () => {
    const due = [...pending.values()]
    for (const callback of due) {
      clearTimeout(callback.timer)
      void deliver(callback)
    }
    return { delivering: due.length }
  })

  provider.addHook('onClose', async () => {
    for (const callback of pending.values()) clearTimeout(callback.timer)
    pending.clear()
    for (const controller of deliveries) controller.abort()
  })

  return provider
}
