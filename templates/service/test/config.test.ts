import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig } from '../src/config.js'
import { SECRET } from './helper.js'

test('defaults', () => {
  const config = loadConfig({ WEBHOOK_SECRET: SECRET })
  assert.equal(config.port, 3000)
  assert.equal(config.providerUrl, 'http://127.0.0.1:4000')
  assert.equal(config.publicUrl, null)
  assert.equal(config.providerTimeoutMs, 5000)
  assert.equal(config.shutdownDrainMs, 0)
  assert.deepEqual(config.gate, { handshakeTimeoutMs: 30_000, backoffBaseMs: 500, backoffMaxMs: 30_000, maxAttempts: 0, refreshAt: 0.8 })
})

test('each bad value stops with a message naming the variable and never echoing the secret', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /^WEBHOOK_SECRET is not set/],
    [{ WEBHOOK_SECRET: 'hunter2' }, /^WEBHOOK_SECRET must be/],
    [{ WEBHOOK_SECRET: 'whsec_' }, /^WEBHOOK_SECRET must be/],
    [{ PORT: '70000' }, /^PORT must be a whole number from 0 to 65535; got "70000"/],
    [{ PORT: 'abc' }, /^PORT must be/],
    [{ PROVIDER_URL: 'ftp://x' }, /^PROVIDER_URL must be an http\(s\) URL/],
    [{ PUBLIC_URL: 'not a url' }, /^PUBLIC_URL must be/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ PROVIDER_TIMEOUT_MS: '0' }, /^PROVIDER_TIMEOUT_MS must be/],
    [{ SHUTDOWN_DRAIN_MS: '-1' }, /^SHUTDOWN_DRAIN_MS must be/],
    [{ GATE_MAX_ATTEMPTS: '1.5' }, /^GATE_MAX_ATTEMPTS must be/],
    [{ GATE_REFRESH_AT: '1' }, /^GATE_REFRESH_AT must be/],
    [{ GATE_BACKOFF_BASE_MS: '500', GATE_BACKOFF_MAX_MS: '100' }, /^GATE_BACKOFF_MAX_MS \(100\) must not be below/],
  ]
  for (const [env, message] of cases) {
    const full = { WEBHOOK_SECRET: SECRET, ...env }
    if (!('WEBHOOK_SECRET' in env) && Object.keys(env).length === 0) delete (full as Record<string, string>).WEBHOOK_SECRET
    assert.throws(() => loadConfig(full), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, message)
      assert.ok(!error.message.includes('hunter2'))
      return true
    }, JSON.stringify(env))
  }
})

const PROJECT = { name: 'orders', settings: { port: 3710, providerPort: 4710, delay: 3000, store: 'memory' } }

test('package.json "gatekeep" gives the port and the provider URL; the environment overrides them', () => {
  const fromProject = loadConfig({ WEBHOOK_SECRET: SECRET }, PROJECT)
  assert.equal(fromProject.port, 3710)
  assert.equal(fromProject.providerUrl, 'http://127.0.0.1:4710')
  // Unset, the callback address is where the server listens (setup.ts), never a pinned port.
  assert.equal(fromProject.publicUrl, null)
  assert.equal(fromProject.namespace, 'orders')

  const overridden = loadConfig({ WEBHOOK_SECRET: SECRET, PORT: '3855', PROVIDER_PORT: '4855' }, PROJECT)
  assert.equal(overridden.port, 3855)
  assert.equal(overridden.providerUrl, 'http://127.0.0.1:4855')

  const explicit = loadConfig({ WEBHOOK_SECRET: SECRET, PROVIDER_URL: 'https://provider.example.com/', PROVIDER_PORT: 'ignored' }, PROJECT)
  assert.equal(explicit.providerUrl, 'https://provider.example.com')

  const bare = loadConfig({ WEBHOOK_SECRET: SECRET, PORT: '' }, { name: 'orders', settings: {} })
  assert.equal(bare.port, 3000)
  assert.equal(bare.providerUrl, 'http://127.0.0.1:4000')
})

test('a bad value in package.json "gatekeep" is named as such', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: 'three thousand' }, /^package\.json "gatekeep"\.port must be a whole number from 0 to 65535; got "three thousand"\.$/],
    [{ port: 70000 }, /^package\.json "gatekeep"\.port must be/],
    [{ providerPort: -1 }, /^package\.json "gatekeep"\.providerPort must be/],
  ]
  for (const [settings, message] of cases) {
    assert.throws(() => loadConfig({ WEBHOOK_SECRET: SECRET }, { name: 'orders', settings }), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, message)
      return true
    }, JSON.stringify(settings))
  }
})

test('rate limits and trusted proxies: defaults, RATE_LIMIT=off, and bad values named', () => {
  const defaults = loadConfig({ WEBHOOK_SECRET: SECRET })
  assert.deepEqual(defaults.rateLimit, { max: 1000, windowMs: 60_000, webhookFailures: 30 })
  assert.deepEqual(defaults.trustProxy, [])
  assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET, RATE_LIMIT: 'off', RATE_LIMIT_MAX: '5' }).rateLimit, null)
  const set = loadConfig({
    WEBHOOK_SECRET: SECRET,
    RATE_LIMIT_MAX: '50',
    RATE_LIMIT_WINDOW_MS: '1000',
    RATE_LIMIT_WEBHOOK_FAILURES: '5',
    TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,loopback,fd00::/8',
  })
  assert.deepEqual(set.rateLimit, { max: 50, windowMs: 1000, webhookFailures: 5 })
  assert.deepEqual(set.trustProxy, ['10.0.0.0/8', '192.168.1.7', 'loopback', 'fd00::/8'])

  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ RATE_LIMIT: 'no' }, /^RATE_LIMIT must be one of on, off; got "no"/],
    [{ RATE_LIMIT_MAX: '0' }, /^RATE_LIMIT_MAX must be a whole number 1 or more/],
    [{ RATE_LIMIT_WINDOW_MS: '1m' }, /^RATE_LIMIT_WINDOW_MS must be/],
    [{ RATE_LIMIT_WEBHOOK_FAILURES: '-1' }, /^RATE_LIMIT_WEBHOOK_FAILURES must be/],
    // Trusting every hop would let any client choose its own address.
    [{ TRUST_PROXY: 'true' }, /^TRUST_PROXY must list the proxies to trust.*; got "true"\.$/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /^TRUST_PROXY must list .*; got "10\.0\.0\.0\/33"\.$/],
    [{ TRUST_PROXY: '10.0.0.1,,10.0.0.2' }, /^TRUST_PROXY must list .*; got ""\.$/],
  ]
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig({ WEBHOOK_SECRET: SECRET, ...env }), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, message)
      return true
    }, JSON.stringify(env))
  }
})
