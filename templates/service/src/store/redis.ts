import { randomUUID } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { isCredential, isHandshake } from '../validate.js'
import type { Credential, GateStore, Handshake, StoreOptions } from './types.js'

/**
 * Deletes KEYS[1] only while it still holds ARGV[1]: an instance never frees another's lock, and
 * a record read and checked here is deleted only if nobody changed or took it meanwhile.
 */
const DELETE_IF_EQUALS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`

/** A handshake record outlives any handshake timeout; the gate clears it when it is answered. */
const HANDSHAKE_TTL_MS = 10 * 60 * 1000

type RedisWithScripts = Redis & {
  deleteIfEquals(key: string, value: string): Promise<number>
}

/** Where a value read from Redis came from, as its warning says. */
type Source = 'channel' | 'revocation' | 'credential' | 'handshake'

const SOURCE_NAMES: Record<Source, string> = {
  channel: 'credential message on the Redis channel',
  revocation: 'revoked-key message on the Redis channel',
  credential: 'credential stored in Redis',
  handshake: 'handshake stored in Redis',
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/**
 * Several instances share one handshake: a lock (SET NX PX, released by compare-and-delete)
 * decides which one calls the provider, the key lives in Redis with its expiry, and a second
 * connection subscribed to a channel opens every instance's gate at once (and a second channel
 * closes them all when the key is revoked: older instances, subscribed to the first one only,
 * never mistake a revocation for a key).
 *
 * Connections are made in the background and never hold the app's start: with Redis down the
 * service still listens and readiness says `store-unavailable`. (@fastify/redis is not used
 * for this reason: it keeps the app from being ready until Redis answers.)
 */
export function createRedisStore({ config, log }: StoreOptions): GateStore {
  const keys = {
    lock: `${config.namespace}:gate:lock`,
    handshake: `${config.namespace}:gate:handshake`,
    credential: `${config.namespace}:gate:credential`,
    revoked: `${config.namespace}:gate:revoked`,
  }
  const options: RedisOptions = {
    // Fail commands at once while disconnected instead of queueing them behind a dead socket.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect with a capped backoff: an outage does not turn into a reconnect storm.
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
  }
  const commands = new Redis(config.redisUrl, { ...options, connectionName: `${config.namespace}:gate` }) as RedisWithScripts
  // Its SUBSCRIBE must wait out an outage (ioredis restores it after each reconnect), so this
  // connection keeps its queue and never gives up on a command.
  const subscriber = new Redis(config.redisUrl, {
    ...options,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectionName: `${config.namespace}:gate:sub`,
  })
  commands.defineCommand('deleteIfEquals', { numberOfKeys: 1, lua: DELETE_IF_EQUALS })

  const token = randomUUID()
  const credentialListeners: Array<(credential: Credential) => void> = []
  const revocationListeners: Array<(credential: Credential) => void> = []
  const availabilityListeners: Array<(available: boolean) => void> = []
  let wasAvailable: boolean | undefined
  let closing = false
  const lastMalformed = new Map<Source, string>()

  /**
   * Anyone who can write to Redis can write anything there: a value is used only when it passes
   * the webhook's rules. A bad one is warned about once, however often it is read again (a
   * stored one is read at every handshake), and never quoted, since it may hold a key.
   */
  function read<T>(raw: string, isValid: (value: unknown) => value is T, source: Source): T | undefined {
    const value = parseJson(raw)
    if (isValid(value)) return value
    if (lastMalformed.get(source) !== raw) {
      lastMalformed.set(source, raw)
      log.warn({ event: 'store-malformed', source }, `malformed ${SOURCE_NAMES[source]}; ignored`)
    }
    return undefined
  }

  const isAvailable = () => commands.status === 'ready' && subscriber.status === 'ready'
  // One notice per change, not one per reconnect attempt.
  function noticeAvailability(): void {
    // Our own close() drops the connections: that is no outage.
    if (closing) return
    const available = isAvailable()
    if (available === wasAvailable) return
    wasAvailable = available
    for (const listener of availabilityListeners) listener(available)
  }
  for (const connection of [commands, subscriber]) {
    // One connection ready while the other still connects is not news.
    connection.on('ready', () => isAvailable() && noticeAvailability())
    connection.on('close', noticeAvailability)
    // Without a listener ioredis prints every failed attempt; the state change is announced above.
    connection.on('error', noticeAvailability)
  }

  // Both channels carry a credential: the key to open with, or the key to let go.
  const channels = new Map<string, { source: Source; listeners: Array<(credential: Credential) => void> }>([
    [keys.credential, { source: 'channel', listeners: credentialListeners }],
    [keys.revoked, { source: 'revocation', listeners: revocationListeners }],
  ])
  void subscriber.subscribe(...channels.keys()).catch(() => undefined)
  subscriber.on('message', (channel, message) => {
    const route = channels.get(channel)
    if (route === undefined) return
    const credential = read(message, isCredential, route.source)
    if (credential === undefined) return
    for (const listener of route.listeners) listener(credential)
  })

  async function discardCredential(key: string): Promise<void> {
    const stored = await commands.get(keys.credential)
    if (stored !== null && read(stored, isCredential, 'credential')?.key === key) {
      await commands.deleteIfEquals(keys.credential, stored)
    }
  }

  return {
    // The commands connection fails at once while Redis is down, and the limiter, skipping on
    // errors, then lets requests through: an outage never turns into 500s or stalls.
    rateLimit: { redis: commands, nameSpace: `${config.namespace}:rate-limit:` },
    available: isAvailable,
    onAvailabilityChange(listener) {
      availabilityListeners.push(listener)
    },
    async claimHandshake(ttlMs) {
      return (await commands.set(keys.lock, token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK'
    },
    async releaseHandshake() {
      await commands.deleteIfEquals(keys.lock, token)
    },
    async setHandshake(handshake: Handshake | null) {
      if (handshake === null) await commands.del(keys.handshake)
      else await commands.set(keys.handshake, JSON.stringify(handshake), 'PX', HANDSHAKE_TTL_MS)
    },
    async takeHandshake(requestId) {
      const stored = await commands.get(keys.handshake)
      if (stored === null || read(stored, isHandshake, 'handshake')?.requestId !== requestId) return false
      // Of all the webhooks racing for this record, in any instance, one deletes it.
      return (await commands.deleteIfEquals(keys.handshake, stored)) === 1
    },
    async saveCredential(credential) {
      const value = JSON.stringify(credential)
      const transaction = commands.multi()
      if (credential.expiresAt === null) transaction.set(keys.credential, value)
      else transaction.set(keys.credential, value, 'PX', Math.max(1, credential.expiresAt - Date.now()))
      // Every instance, this one included, opens its gate from the message.
      await transaction.publish(keys.credential, value).exec()
    },
    async loadCredential() {
      const stored = await commands.get(keys.credential)
      return stored === null ? null : (read(stored, isCredential, 'credential') ?? null)
    },
    discardCredential,
    onCredential(listener) {
      credentialListeners.push(listener)
    },
    async revokeCredential(credential) {
      await discardCredential(credential.key)
      await commands.publish(keys.revoked, JSON.stringify(credential))
    },
    onRevocation(listener) {
      revocationListeners.push(listener)
    },
    async close() {
      closing = true
      credentialListeners.length = 0
      revocationListeners.length = 0
      availabilityListeners.length = 0
      // quit() waits for Redis to answer; with Redis down it would wait forever.
      await Promise.all(
        [commands, subscriber].map((connection) =>
          connection.status === 'ready' ? connection.quit().then(() => undefined) : connection.disconnect(),
        ),
      )
    },
  }
}
