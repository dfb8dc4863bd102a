import type { Credential, GateStore, Handshake, StoreOptions } from './types.js'

/** The key lives in this process only: each instance runs its own handshake. */
export function createMemoryStore(_options?: StoreOptions): GateStore {
  let credential: Credential | null = null
  let handshake: Handshake | null = null
  let claimedUntil = 0
  const credentialListeners: Array<(credential: Credential) => void> = []
  const revocationListeners: Array<(credential: Credential) => void> = []

  return {
    available: () => true,
    onAvailabilityChange() {
      // Memory is always there.
    },
    async claimHandshake(ttlMs) {
      const now = Date.now()
      if (claimedUntil > now) return false
      claimedUntil = now + ttlMs
      return true
    },
    async releaseHandshake() {
      claimedUntil = 0
    },
    async setHandshake(next) {
      handshake = next
    },
    async takeHandshake(requestId) {
      if (handshake?.requestId !== requestId) return false
      handshake = null
      return true
    },
    async saveCredential(next) {
      credential = next
      for (const listener of credentialListeners) listener(next)
    },
    async loadCredential() {
      return credential
    },
    async discardCredential(key) {
      if (credential?.key === key) credential = null
    },
    onCredential(listener) {
      credentialListeners.push(listener)
    },
    async revokeCredential(revoked) {
      if (credential?.key === revoked.key) credential = null
      for (const listener of revocationListeners) listener(revoked)
    },
    onRevocation(listener) {
      revocationListeners.push(listener)
    },
    async close() {
      credentialListeners.length = 0
      revocationListeners.length = 0
    },
  }
}
