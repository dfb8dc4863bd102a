import { randomUUID } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { Credential, GateStore, Handshake, StoreOptions } from './types.js'

/** Deletes KEYS[1] only while it still holds ARGV[1]: an instance never frees another's lock. */
const RELEASE_IF_HELD = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`

/** Deletes the stored credential only while it still carries the rejected key. */
const DISCARD_IF_KEY = `local stored = redis.call('get', KEYS[1])
if stored and cjson.decode(stored).key == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`

/** A handshake record outlives any handshake timeout; the gate clears it when it is answered. */
const HANDSHAKE_TTL_MS = 10 * 60 * 1000

type RedisWithScripts = Redis & {
  releaseIfHeld(key: string, token: string): Promise<number>
  discardIfKey(key: string, magicKey: string): Promise<number>
}

/**
 * Several instances share one handshake: a lock (SET NX PX, released by compare-and-delete)
 * decides which one calls the provider, the key lives in Redis with its expiry, and a second
 * connection subscribed to a channel opens every instance's gate at once.
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
  commands.defineCommand('releaseIfHeld', { numberOfKeys: 1, lua: RELEASE_IF_HELD })
  commands.defineCommand('discardIfKey', { numberOfKeys: 1, lua: DISCARD_IF_KEY })

  const token = randomUUID()
  const credentialListeners: Array<(credential: Credential) => void> = []
  const availabilityListeners: Array<(available: boolean) => void> = []
  let wasAvailable: boolean | undefined

  const isAvailable = () => commands.status === 'ready' && subscriber.status === 'ready'
  // One log line per change, not one per reconnect attempt.
  function noticeAvailability(): void {
    const available = isAvailable()
    if (available === wasAvailable) return
    wasAvailable = available
    if (available) log.info({ event: 'store-available' }, 'Redis store available')
    else log.warn({ event: 'store-unavailable' }, 'Redis store unavailable; retrying in the background')
    for (const listener of availabilityListeners) listener(available)
  }
  for (const connection of [commands, subscriber]) {
    // One connection ready while the other still connects is not news.
    connection.on('ready', () => isAvailable() && noticeAvailability())
    connection.on('close', noticeAvailability)
    // Without a listener ioredis prints every failed attempt; the state change is logged above.
    connection.on('error', noticeAvailability)
  }

  void subscriber.subscribe(keys.credential).catch(() => undefined)
  subscriber.on('message', (channel, message) => {
    if (channel !== keys.credential) return
    const credential = JSON.parse(message) as Credential
    for (const listener of credentialListeners) listener(credential)
  })

  return {
    available: isAvailable,
    onAvailabilityChange(listener) {
      availabilityListeners.push(listener)
    },
    async claimHandshake(ttlMs) {
      return (await commands.set(keys.lock, token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK'
    },
    async releaseHandshake() {
      await commands.releaseIfHeld(keys.lock, token)
    },
    async setHandshake(handshake: Handshake | null) {
      if (handshake === null) await commands.del(keys.handshake)
      else await commands.set(keys.handshake, JSON.stringify(handshake), 'PX', HANDSHAKE_TTL_MS)
    },
    async getHandshake() {
      const stored = await commands.get(keys.handshake)
      return stored === null ? null : (JSON.parse(stored) as Handshake)
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
      return stored === null ? null : (JSON.parse(stored) as Credential)
    },
    async discardCredential(key) {
      await commands.discardIfKey(keys.credential, key)
    },
    onCredential(listener) {
      credentialListeners.push(listener)
    },
    async close() {
      credentialListeners.length = 0
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
