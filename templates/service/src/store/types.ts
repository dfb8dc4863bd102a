import type { RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyBaseLogger } from 'fastify'

/** A key issued by the provider, as the gate keeps it. */
export interface Credential {
  key: string
  /** Epoch ms after which the provider no longer accepts the key; null when it never expires. */
  expiresAt: number | null
  /** The handshake that produced it. */
  requestId: string
}

/** A handshake the provider accepted and will answer through the webhook. */
export interface Handshake {
  requestId: string
  /** Epoch ms at which the provider expects to call back. */
  etaAt: number
}

export interface StoreOptions {
  config: { redisUrl: string; namespace: string }
  log: FastifyBaseLogger
}

/**
 * Where the gate keeps its key and its handshake in flight. The memory store keeps them in this
 * process; a shared store lets several instances run one handshake and open together.
 */
export interface GateStore {
  /**
   * Set by a store that instances share: @fastify/rate-limit keeps its counts there too, so that
   * a client's limit holds across instances. Absent: each instance counts on its own.
   */
  readonly rateLimit?: Pick<RateLimitPluginOptions, 'redis' | 'nameSpace'>
  /** False while the store cannot be reached: readiness then answers `store-unavailable`. */
  available(): boolean
  /** Called once per change, not per reconnect attempt; never for the store's own close(). */
  onAvailabilityChange(listener: (available: boolean) => void): void
  /** Claims the right to run the next handshake; false while another instance holds it. */
  claimHandshake(ttlMs: number): Promise<boolean>
  releaseHandshake(): Promise<void>
  setHandshake(handshake: Handshake | null): Promise<void>
  /**
   * Removes the handshake in flight if it is `requestId`'s. True for one caller only, however
   * many webhooks answer it at once in however many instances: that one applies its key.
   */
  takeHandshake(requestId: string): Promise<boolean>
  /** Stores the key and tells every listener (in every instance sharing the store). */
  saveCredential(credential: Credential): Promise<void>
  loadCredential(): Promise<Credential | null>
  /** Forgets the key when it is still the one given: the provider rejected it. */
  discardCredential(key: string): Promise<void>
  onCredential(listener: (credential: Credential) => void): void
  /**
   * Forgets the key when it is still the one stored, and tells every listener (in every instance
   * sharing the store) to stop using it: the key is expired on purpose.
   */
  revokeCredential(credential: Credential): Promise<void>
  onRevocation(listener: (credential: Credential) => void): void
  close(): Promise<void>
}
