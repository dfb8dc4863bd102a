import type { WebhookPayload } from './gate.js'
import type { Clock } from './gate-timers.js'
import type { Credential, GateStore, Handshake } from './store/types.js'

/** The handshake claim lasts the webhook wait plus this, covering the /authorize call itself. */
const HANDSHAKE_CLAIM_MARGIN_MS = 5000

/** How often an instance waiting on another's handshake checks whether it is still running. */
const FOLLOWER_CHECK_MS = 1000

export type Claim = { claimed: false } | { claimed: true; stored: Credential | null }

/**
 * The gate's dealings with its store, which other instances may share: who runs the handshake,
 * which webhook answers it, and the key every instance opens with. Upkeep that may fail while
 * the store is down is never thrown: the claim and the handshake record expire by themselves,
 * and the outage itself is announced by the store.
 */
export class Coordination {
  readonly #store: GateStore
  readonly #clock: Clock
  readonly #claimMs: number
  /** How long a follower waits before looking again; never longer than a whole handshake may last. */
  readonly followerCheckMs: number

  constructor(store: GateStore, clock: Clock, handshakeTimeoutMs: number) {
    this.#store = store
    this.#clock = clock
    // The claim outlives the wait for the webhook, so a second instance does not start another.
    this.#claimMs = handshakeTimeoutMs + HANDSHAKE_CLAIM_MARGIN_MS
    this.followerCheckMs = Math.min(handshakeTimeoutMs, FOLLOWER_CHECK_MS)
  }

  available(): boolean {
    return this.#store.available()
  }

  usable(credential: Credential): boolean {
    return credential.expiresAt === null || credential.expiresAt > this.#clock.now()
  }

  /** The stored key when still valid; null when there is none or the store does not answer. */
  async storedKey(): Promise<Credential | null> {
    const stored = await this.#store.loadCredential().catch(() => null)
    return stored && this.usable(stored) ? stored : null
  }

  /**
   * Claims the right to run the next handshake; false while another instance holds it, and its
   * key reaches this one through the store (should it die, its claim expires and one of us takes
   * over at the next look). Once claimed, the stored key too: another instance may have fetched
   * a newer one since our last look. Throws when the store does not answer.
   */
  async claim(): Promise<Claim> {
    if (!(await this.#store.claimHandshake(this.#claimMs))) return { claimed: false }
    const stored = await this.#store.loadCredential()
    return { claimed: true, stored: stored && this.usable(stored) ? stored : null }
  }

  /** Records the handshake in flight, so that its webhook can be taken in any instance. Throws when the store does not answer. */
  async record(handshake: Handshake): Promise<void> {
    await this.#store.setHandshake(handshake)
  }

  /** Drops our own handshake record (only ours: another instance's may be under way). */
  forget(): void {
    this.#quietly(this.#store.setHandshake(null))
  }

  release(): void {
    this.#quietly(this.#store.releaseHandshake())
  }

  /** Whether the webhook for `requestId` is the one that answers the handshake in flight. */
  takeHandshake(requestId: string): Promise<boolean> {
    return this.#store.takeHandshake(requestId)
  }

  /** Stores the key; every instance sharing the store, this one included, opens with it. */
  async save({ requestId, magicKey, expiresIn }: WebhookPayload): Promise<void> {
    const expiresAt = expiresIn === undefined ? null : this.#clock.now() + expiresIn * 1000
    await this.#store.saveCredential({ key: magicKey, expiresAt, requestId })
  }

  /** Forgets a key the provider rejected; the other instances learn it from their own 401s. */
  discard(key: string): void {
    this.#quietly(this.#store.discardCredential(key))
  }

  /** Forgets the key and tells every instance sharing the store, this one included, to stop using it. */
  revoke(credential: Credential): Promise<void> {
    return this.#store.revokeCredential(credential)
  }

  onCredential(listener: (credential: Credential) => void): void {
    this.#store.onCredential(listener)
  }

  onRevocation(listener: (credential: Credential) => void): void {
    this.#store.onRevocation(listener)
  }

  onStoreBack(listener: () => void): void {
    this.#store.onAvailabilityChange((available) => {
      if (available) listener()
    })
  }

  #quietly(operation: Promise<unknown>): void {
    operation.catch(() => undefined)
  }
}
