// The gate's state machine on its own: a fake clock, a fake store and a fake provider, no
// network. Each test drives it step by step and reads the gate events it published.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { GateConfig } from '../src/config.js'
import { ServiceEvents, type Published } from '../src/events.js'
import { Gate } from '../src/gate.js'
import { Timers, type Clock } from '../src/gate-timers.js'
import { ProviderError, type Authorization } from '../src/provider/client.js'
import type { Credential, GateStore, Handshake } from '../src/store/types.js'

/** Lets every promise the last step started settle (the fakes answer at once). */
const settle = () => new Promise((resolve) => setImmediate(resolve))

class FakeClock implements Clock {
  #now = 1_000_000
  #timers: Array<{ at: number; run: () => void }> = []

  now(): number {
    return this.#now
  }

  setTimer(run: () => void, ms: number): () => void {
    const timer = { at: this.#now + ms, run }
    this.#timers.push(timer)
    return () => {
      this.#timers = this.#timers.filter((other) => other !== timer)
    }
  }

  /** In how long each pending timer fires, soonest first. */
  pending(): number[] {
    return this.#timers.map((timer) => timer.at - this.#now).sort((a, b) => a - b)
  }

  /** Moves time on by `ms`, firing each timer due on the way in order and settling after each. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms
    for (;;) {
      await settle()
      const due = this.#timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.#timers = this.#timers.filter((timer) => timer !== due)
      this.#now = due.at
      due.run()
    }
    this.#now = until
    await settle()
  }
}

/** One store shared by any number of gates, as Redis is by instances; its outage is a switch. */
class FakeStore implements GateStore {
  up = true
  /** Another instance holds the claim on the handshake. */
  claimedElsewhere = false
  claimHeld = false
  credential: Credential | null = null
  handshake: Handshake | null = null
  readonly #credentialListeners: Array<(credential: Credential) => void> = []
  readonly #revocationListeners: Array<(credential: Credential) => void> = []
  readonly #availabilityListeners: Array<(available: boolean) => void> = []

  #answer(): void {
    if (!this.up) throw new Error('store unreachable')
  }

  setUp(up: boolean): void {
    this.up = up
    for (const listener of this.#availabilityListeners) listener(up)
  }

  available(): boolean {
    return this.up
  }
  onAvailabilityChange(listener: (available: boolean) => void): void {
    this.#availabilityListeners.push(listener)
  }
  async claimHandshake(): Promise<boolean> {
    this.#answer()
    if (this.claimedElsewhere || this.claimHeld) return false
    this.claimHeld = true
    return true
  }
  async releaseHandshake(): Promise<void> {
    this.#answer()
    this.claimHeld = false
  }
  async setHandshake(handshake: Handshake | null): Promise<void> {
    this.#answer()
    this.handshake = handshake
  }
  async takeHandshake(requestId: string): Promise<boolean> {
    this.#answer()
    if (this.handshake?.requestId !== requestId) return false
    this.handshake = null
    return true
  }
  async saveCredential(credential: Credential): Promise<void> {
    this.#answer()
    this.credential = credential
    for (const listener of this.#credentialListeners) listener(credential)
  }
  async loadCredential(): Promise<Credential | null> {
    this.#answer()
    return this.credential
  }
  async discardCredential(key: string): Promise<void> {
    this.#answer()
    if (this.credential?.key === key) this.credential = null
  }
  onCredential(listener: (credential: Credential) => void): void {
    this.#credentialListeners.push(listener)
  }
  async revokeCredential(credential: Credential): Promise<void> {
    await this.discardCredential(credential.key)
    for (const listener of this.#revocationListeners) listener(credential)
  }
  onRevocation(listener: (credential: Credential) => void): void {
    this.#revocationListeners.push(listener)
  }
  async close(): Promise<void> {}
}

/** /authorize calls stay pending until the test answers them. */
class FakeProvider {
  readonly calls: Array<{ resolve: (authorization: Authorization) => void; reject: (error: Error) => void }> = []

  authorize = (): Promise<Authorization> =>
    new Promise((resolve, reject) => {
      this.calls.push({ resolve, reject })
    })

  async accept(requestId: string, etaMs = 500): Promise<void> {
    this.#last().resolve({ requestId, etaMs })
    await settle()
  }

  async fail(): Promise<void> {
    this.#last().reject(new ProviderError('failed', 'the provider answered 500'))
    await settle()
  }

  #last() {
    const call = this.calls.at(-1)
    assert.ok(call, 'an /authorize call to answer')
    return call
  }
}

const CONFIG: GateConfig = { handshakeTimeoutMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 400, maxAttempts: 0, refreshAt: 0.8 }

interface Rig {
  gate: Gate
  clock: FakeClock
  store: FakeStore
  provider: FakeProvider
  /** The gate events, each as `state:reason`, `open` or `open+<refresh state>`. */
  states: string[]
  gateEvents: Array<Published<'gate'>>
  handshakes: Array<Published<'handshake'>>
}

/** A gate over the fakes; several share a clock and a store as instances share Redis. */
function rig({ config = {}, clock = new FakeClock(), store = new FakeStore() }: { config?: Partial<GateConfig>; clock?: FakeClock; store?: FakeStore } = {}): Rig {
  const events = new ServiceEvents()
  const provider = new FakeProvider()
  // random = 1: every backoff is its full step.
  const gate = new Gate({ provider, store, config: { ...CONFIG, ...config }, events, clock, random: () => 1 })
  const rigged: Rig = { gate, clock, store, provider, states: [], gateEvents: [], handshakes: [] }
  events.subscribe('gate', (event) => {
    rigged.gateEvents.push(event)
    rigged.states.push(event.state === 'open' ? (event.refresh ? `open+${event.refresh}` : 'open') : `${event.state}:${event.reason}`)
  })
  events.subscribe('handshake', (event) => rigged.handshakes.push(event))
  return rigged
}

/** The webhook for the handshake in flight, as the route hands it to the gate. */
async function deliver(gate: Gate, requestId: string, magicKey: string, expiresIn?: number) {
  const outcome = await gate.acceptWebhook(expiresIn === undefined ? { requestId, magicKey } : { requestId, magicKey, expiresIn })
  await settle()
  return outcome
}

async function start(r: Rig): Promise<void> {
  await r.gate.start('http://service/webhook')
  await settle()
}

async function openWith(r: Rig, magicKey: string, expiresIn?: number): Promise<void> {
  await start(r)
  await r.provider.accept(`req-${magicKey}`)
  assert.equal(await deliver(r.gate, `req-${magicKey}`, magicKey, expiresIn), 'opened')
  assert.equal(r.gate.isOpen, true)
}

test('start: claiming, authorizing, awaiting the webhook, open; each step published', async () => {
  const r = rig()
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-pending', retryInMs: 1000 })
  await start(r)
  assert.deepEqual(r.states, ['claiming:gate-pending', 'authorizing:gate-pending'])
  assert.equal(r.provider.calls.length, 1)
  assert.equal(r.store.claimHeld, true)

  await r.provider.accept('req-1', 700)
  assert.deepEqual(r.store.handshake, { requestId: 'req-1', etaAt: r.clock.now() + 700 })
  assert.deepEqual(r.gateEvents.at(-1), {
    type: 'gate',
    app: r.gateEvents[0]?.app,
    state: 'awaiting-webhook',
    from: 'authorizing',
    reason: 'gate-pending',
    etaMs: 700,
    requestId: 'req-1',
  })
  // The webhook timeout is the one timer.
  assert.deepEqual(r.clock.pending(), [CONFIG.handshakeTimeoutMs])
  await r.clock.advance(300)
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-pending', retryInMs: 400 })

  assert.equal(await deliver(r.gate, 'req-1', 'mk_1'), 'opened')
  assert.deepEqual(r.states, ['claiming:gate-pending', 'authorizing:gate-pending', 'awaiting-webhook:gate-pending', 'open'])
  assert.equal(r.gateEvents.at(-1)?.elapsedMs, 300)
  assert.equal(r.gate.isOpen, true)
  assert.equal(r.gate.key, 'mk_1')
  assert.deepEqual(r.gate.status(), { open: true })
  assert.equal(r.store.claimHeld, false, 'the claim is released once the key is in')
  assert.deepEqual(r.clock.pending(), [], 'a key that never expires needs no timer')
  assert.deepEqual(
    r.handshakes.map(({ outcome, attempt, refreshed }) => ({ outcome, attempt, refreshed })),
    [
      { outcome: 'started', attempt: 1, refreshed: undefined },
      { outcome: 'completed', attempt: 1, refreshed: false },
    ],
  )
})

test('a valid stored key opens the gate at start, without a handshake', async () => {
  const r = rig()
  r.store.credential = { key: 'mk_stored', expiresAt: null, requestId: 'req-0' }
  await start(r)
  assert.deepEqual(r.states, ['open'])
  assert.equal(r.provider.calls.length, 0)
})

test('failed handshakes back off with growing delays; readiness tells the attempt and the last error', async () => {
  const r = rig()
  await start(r)
  for (const [attempt, delayMs] of [[1, 100], [2, 200], [3, 400], [4, 400]] as const) {
    await r.provider.fail()
    assert.equal(r.states.at(-1), 'backing-off:gate-failed')
    assert.deepEqual(r.clock.pending(), [delayMs])
    assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-failed', retryInMs: delayMs + 1000, attempt, lastError: 'provider-error' })
    await r.clock.advance(delayMs)
    assert.equal(r.provider.calls.length, attempt + 1)
    assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-pending', retryInMs: 1000, attempt: attempt + 1, lastError: 'provider-error' })
  }
  assert.deepEqual(
    r.handshakes.filter(({ outcome }) => outcome === 'failed').map(({ attempt, retryInMs, error }) => ({ attempt, retryInMs, error })),
    [
      { attempt: 1, retryInMs: 100, error: 'provider-error' },
      { attempt: 2, retryInMs: 200, error: 'provider-error' },
      { attempt: 3, retryInMs: 400, error: 'provider-error' },
      { attempt: 4, retryInMs: 400, error: 'provider-error' },
    ],
  )
  assert.deepEqual(r.states.slice(0, 5), [
    'claiming:gate-pending',
    'authorizing:gate-pending',
    'backing-off:gate-failed',
    'claiming:gate-failed',
    'authorizing:gate-pending',
  ])
  assert.equal(r.store.claimHeld, true, 'the attempt under way holds the claim; each failed one released it')
})

test('no webhook within the handshake timeout: a failed handshake (timeout), its record dropped', async () => {
  const r = rig()
  await start(r)
  await r.provider.accept('req-1')
  await r.clock.advance(CONFIG.handshakeTimeoutMs)
  assert.equal(r.states.at(-1), 'backing-off:gate-failed')
  assert.equal(r.handshakes.at(-1)?.error, 'timeout')
  assert.equal(r.store.handshake, null)
  assert.equal(r.store.claimHeld, false)
  // Its webhook, arriving late, is stale.
  assert.equal(await deliver(r.gate, 'req-1', 'mk_late'), 'stale')
  assert.equal(r.gate.isOpen, false)
})

test('GATE_MAX_ATTEMPTS failures in a row: exhausted, the promise settles, nothing more is tried', async () => {
  const r = rig({ config: { maxAttempts: 3 } })
  let givenUp: Error | undefined
  void r.gate.exhausted.then((error) => {
    givenUp = error
  })
  await start(r)
  await r.provider.fail()
  await r.clock.advance(100)
  await r.provider.fail()
  await r.clock.advance(200)
  await r.provider.fail()
  assert.equal(r.states.at(-1), 'exhausted:gate-failed')
  assert.equal(givenUp?.message, 'the provider answered 500')
  assert.deepEqual(r.handshakes.at(-1), { type: 'handshake', app: r.handshakes[0]?.app, outcome: 'exhausted', attempt: 3, error: 'provider-error', message: 'the provider answered 500' })
  assert.deepEqual(r.clock.pending(), [])
  await r.clock.advance(60_000)
  assert.equal(r.provider.calls.length, 3)
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-failed', retryInMs: 1000, attempt: 3, lastError: 'provider-error' })
})

test('a refresh at GATE_REFRESH_AT keeps the gate open and swaps the key', async () => {
  const r = rig()
  await openWith(r, 'mk_1', 10)
  assert.deepEqual(r.clock.pending(), [8000, 10_000], 'refresh at 0.8 of the lifetime, expiry at its end')
  await r.clock.advance(8000)
  assert.deepEqual(r.states.slice(-2), ['open+claiming', 'open+authorizing'])
  assert.equal(r.gate.key, 'mk_1')
  await r.provider.accept('req-2')
  assert.equal(r.states.at(-1), 'open+awaiting-webhook')
  assert.equal(await deliver(r.gate, 'req-2', 'mk_2', 10), 'opened')
  assert.equal(r.states.at(-1), 'open')
  assert.equal(r.gate.key, 'mk_2')
  assert.ok(r.states.slice(r.states.indexOf('open')).every((state) => state.startsWith('open')), 'never closed once open')
  assert.equal(r.handshakes.at(-1)?.refreshed, true)
  assert.deepEqual(r.clock.pending(), [8000, 10_000], 'the new key has timers of its own')
})

test('a key that expires while its refresh is awaited: closed key-expired, the refresh goes on, no second handshake', async () => {
  const r = rig()
  await openWith(r, 'mk_1', 10)
  await r.clock.advance(8000)
  await r.provider.accept('req-2', 5000)
  await r.clock.advance(2000)
  assert.equal(r.gate.isOpen, false)
  assert.deepEqual(r.states.slice(-2), ['open+awaiting-webhook', 'awaiting-webhook:key-expired'])
  assert.equal(r.gateEvents.at(-1)?.from, 'open')
  assert.deepEqual(r.gate.status(), { open: false, reason: 'key-expired', retryInMs: 3000 })
  assert.equal(r.provider.calls.length, 2)
  assert.equal(await deliver(r.gate, 'req-2', 'mk_2'), 'opened')
  assert.equal(r.states.at(-1), 'open')
  assert.equal(r.gateEvents.at(-1)?.elapsedMs, 0)
})

test('a key that expires while its refresh waits on another instance: closed key-expired, and a handshake at once', async () => {
  const r = rig()
  await openWith(r, 'mk_1', 10)
  r.store.claimedElsewhere = true
  await r.clock.advance(9000)
  assert.deepEqual(r.states.slice(-4), ['open+claiming', 'open+following', 'open+claiming', 'open+following'])
  // The other instance vanished without a key: the expiry cuts the wait for its next check short.
  r.store.claimedElsewhere = false
  r.store.credential = null
  await r.clock.advance(1000)
  assert.deepEqual(r.states.slice(-3), ['following:key-expired', 'claiming:key-expired', 'authorizing:gate-pending'])
  assert.equal(r.gateEvents.at(-3)?.from, 'open')
  assert.equal(r.gate.isOpen, false)
  assert.equal(r.provider.calls.length, 2)
})

test('expire(): the key is revoked in the store, every gate sharing it closes key-expired, one new handshake opens them all', async () => {
  const clock = new FakeClock()
  const store = new FakeStore()
  const first = rig({ clock, store })
  const second = rig({ clock, store })
  await openWith(first, 'mk_1')
  await start(second)
  assert.equal(second.gate.key, 'mk_1', 'the second opened from the stored key')

  assert.equal(await first.gate.expire(), true)
  await settle()
  assert.equal(store.credential, null)
  for (const r of [first, second]) {
    assert.equal(r.gate.isOpen, false)
    assert.equal(r.gateEvents.find((event) => event.from === 'open')?.reason, 'key-expired')
  }
  assert.deepEqual(first.states.slice(-3), ['closed:key-expired', 'claiming:key-expired', 'authorizing:gate-pending'])
  // The second found the claim taken: it follows, and opens with the key the first fetches.
  assert.deepEqual(second.states, ['open', 'closed:key-expired', 'claiming:key-expired', 'following:key-expired'])
  await first.provider.accept('req-2')
  assert.equal(await deliver(first.gate, 'req-2', 'mk_2'), 'opened')
  assert.equal(first.gate.key, 'mk_2')
  assert.equal(second.gate.key, 'mk_2')
  assert.equal(first.provider.calls.length + second.provider.calls.length, 2)
})

test('expire() without a key: nothing to do', async () => {
  const r = rig()
  await start(r)
  assert.equal(await r.gate.expire(), false)
  assert.equal(r.states.at(-1), 'authorizing:gate-pending')
})

test('a key the provider rejects before serving one call: a failed handshake (key-rejected), backed off', async () => {
  const r = rig()
  await start(r)
  await r.provider.fail()
  await r.clock.advance(100)
  await r.provider.accept('req-2')
  assert.equal(await deliver(r.gate, 'req-2', 'mk_2'), 'opened')
  r.gate.rejectKey('mk_2')
  r.gate.rejectKey('mk_2')
  await settle()
  assert.deepEqual(r.states.slice(-2), ['closed:key-rejected', 'backing-off:gate-failed'])
  // The failure before this key counts again: this is the second in a row.
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-failed', retryInMs: 200 + 500, attempt: 2, lastError: 'key-rejected' })
  assert.equal(r.store.credential, null, 'the rejected key is discarded from the store')
  assert.equal(r.provider.calls.length, 2)
  await r.clock.advance(200)
  assert.equal(r.provider.calls.length, 3)
})

test('a key the provider served with, then rejects: key-rejected, and a new handshake at once, no failure counted', async () => {
  const r = rig()
  await openWith(r, 'mk_1')
  r.gate.confirmKey('mk_1')
  r.gate.rejectKey('mk_1')
  await settle()
  assert.deepEqual(r.states.slice(-3), ['closed:key-rejected', 'claiming:key-rejected', 'authorizing:gate-pending'])
  assert.equal(r.provider.calls.length, 2)
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-pending', retryInMs: 500 })
})

test('following another instance: the claim is polled until its key arrives', async () => {
  const r = rig()
  r.store.claimedElsewhere = true
  await start(r)
  assert.deepEqual(r.states, ['claiming:gate-pending', 'following:gate-pending'])
  assert.deepEqual(r.clock.pending(), [1000])
  await r.clock.advance(1000)
  assert.deepEqual(r.states.slice(-2), ['claiming:gate-pending', 'following:gate-pending'])
  assert.equal(r.provider.calls.length, 0)
  // The other instance's webhook lands here: not this instance's handshake.
  assert.equal(await deliver(r.gate, 'req-elsewhere', 'mk_x'), 'stale')
  await r.store.saveCredential({ key: 'mk_other', expiresAt: null, requestId: 'req-other' })
  assert.equal(r.states.at(-1), 'open')
  assert.equal(r.gate.key, 'mk_other')
  assert.deepEqual(r.clock.pending(), [], 'no more polling')
})

test('the instance it follows dies: once its claim expires, this one runs the handshake', async () => {
  const r = rig()
  r.store.claimedElsewhere = true
  await start(r)
  r.store.claimedElsewhere = false
  await r.clock.advance(1000)
  assert.deepEqual(r.states.slice(-2), ['claiming:gate-pending', 'authorizing:gate-pending'])
  assert.equal(r.provider.calls.length, 1)
})

test('store down: waiting-for-store, readiness store-unavailable, no failure counted; its return resumes the handshake', async () => {
  const r = rig()
  r.store.up = false
  await start(r)
  assert.deepEqual(r.states, ['waiting-for-store:gate-pending'])
  assert.deepEqual(r.gate.status(), { open: false, reason: 'store-unavailable', retryInMs: 1000 })
  await r.clock.advance(60_000)
  assert.equal(r.provider.calls.length, 0)
  r.store.setUp(true)
  await settle()
  assert.deepEqual(r.states, ['waiting-for-store:gate-pending', 'claiming:gate-pending', 'authorizing:gate-pending'])
  assert.deepEqual(r.gate.status(), { open: false, reason: 'gate-pending', retryInMs: 1000 })
})

test('a store call failing mid-claim postpones the handshake, not a failure; a key stored meanwhile opens on its return', async () => {
  const r = rig()
  r.store.claimHandshake = async () => {
    throw new Error('connection reset')
  }
  await start(r)
  assert.equal(r.states.at(-1), 'waiting-for-store:gate-pending')
  assert.deepEqual(r.clock.pending(), [CONFIG.backoffBaseMs])
  r.store.credential = { key: 'mk_meanwhile', expiresAt: null, requestId: 'req-0' }
  r.store.setUp(true)
  await settle()
  assert.equal(r.states.at(-1), 'open')
  assert.equal(r.gate.key, 'mk_meanwhile')
  assert.equal(r.handshakes.filter(({ outcome }) => outcome === 'failed').length, 0)
})

test('an open gate stays open through a store outage; its refresh waits for the store', async () => {
  const r = rig()
  await openWith(r, 'mk_1', 10)
  r.store.setUp(false)
  await r.clock.advance(8000)
  assert.equal(r.states.at(-1), 'open+waiting-for-store')
  assert.deepEqual(r.gate.status(), { open: true })
  r.store.setUp(true)
  await settle()
  assert.deepEqual(r.states.slice(-2), ['open+claiming', 'open+authorizing'])
})

test('a webhook while /authorize is still answering is early; a second one for an answered handshake is stale', async () => {
  const r = rig()
  await start(r)
  assert.equal(await deliver(r.gate, 'req-1', 'mk_1'), 'early')
  await r.provider.accept('req-1')
  assert.equal(await deliver(r.gate, 'req-1', 'mk_1'), 'opened')
  assert.equal(await deliver(r.gate, 'req-1', 'mk_again'), 'stale')
  assert.equal(r.gate.key, 'mk_1')
})

test('stop(): no timer left, nothing published after', async () => {
  const r = rig()
  await start(r)
  await r.provider.accept('req-1')
  r.gate.stop()
  assert.deepEqual(r.clock.pending(), [])
  const published = r.states.length
  await deliver(r.gate, 'req-1', 'mk_1')
  assert.equal(r.states.length, published)
  assert.equal(r.gate.isOpen, false)
})

test('a timer longer than setTimeout can wait is waited for in hops', async () => {
  const clock = new FakeClock()
  const timers = new Timers<'expiry'>(clock)
  let fired = 0
  const fortyDaysMs = 40 * 24 * 3600 * 1000
  timers.set('expiry', fortyDaysMs, () => {
    fired += 1
  })
  assert.deepEqual(clock.pending(), [2 ** 31 - 1])
  await clock.advance(2 ** 31 - 1)
  assert.equal(fired, 0)
  assert.deepEqual(clock.pending(), [fortyDaysMs - (2 ** 31 - 1)])
  await clock.advance(fortyDaysMs - (2 ** 31 - 1))
  assert.equal(fired, 1)
  assert.deepEqual(clock.pending(), [])
})
