import type { WebhookPayload } from './gate.js'
import type { Credential, Handshake } from './store/types.js'

// One set of rules for every way a key reaches the gate: the webhook body, and what a shared
// store hands back (anyone who can write to the store can write anything there).

/** Ten years: a longer lifetime is a provider bug, not a key to trust. */
const MAX_EXPIRES_IN_S = 10 * 365 * 24 * 3600
/** Bounds on what a sender can make this process keep and log. */
const MAX_REQUEST_ID_LENGTH = 256
const MAX_KEY_LENGTH = 4096

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH
}

function isKey(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_KEY_LENGTH
}

export function isWebhookPayload(value: unknown): value is WebhookPayload {
  if (!isRecord(value)) return false
  const { requestId, magicKey, expiresIn } = value
  return (
    isRequestId(requestId) &&
    isKey(magicKey) &&
    (expiresIn === undefined || (typeof expiresIn === 'number' && expiresIn > 0 && expiresIn <= MAX_EXPIRES_IN_S))
  )
}

/** A key as the gate keeps it: the webhook's rules, its lifetime turned into an instant. */
export function isCredential(value: unknown): value is Credential {
  if (!isRecord(value)) return false
  const { key, expiresAt, requestId } = value
  return (
    isKey(key) &&
    isRequestId(requestId) &&
    // A past instant is valid: the gate ignores an expired key by itself.
    (expiresAt === null || (typeof expiresAt === 'number' && expiresAt > 0 && expiresAt <= Date.now() + MAX_EXPIRES_IN_S * 1000))
  )
}

export function isHandshake(value: unknown): value is Handshake {
  if (!isRecord(value)) return false
  const { requestId, etaAt } = value
  return isRequestId(requestId) && typeof etaAt === 'number' && Number.isFinite(etaAt)
}
