// `gatekeep dev --instances N`: several service instances beside one provider, sharing one
// handshake through the real Redis at 127.0.0.1:6379.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import {
  count,
  fetchVersion,
  makeDevProject,
  readDevStateIn,
  saveVersionRoute,
  startDevSession,
  useRedisStore,
  waitUntilGone,
  type DevSession,
} from './helpers/dev.js'
import { runGatekeep } from './helpers/gatekeep.js'
import { freePortRange, holdPort, waitUntilPortFree } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 60_000 }
const INSTANCES = 3

/**
 * A Redis key prefix of this test alone, so that no two tests share a handshake; its keys are
 * deleted when the test ends.
 */
function isolatedNamespace(t: TestContext): string {
  const namespace = `gatekeep-dev-instances-${randomUUID()}`
  t.after(async () => {
    const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await redis.connect()
      const keys: string[] = []
      for await (const batch of redis.scanStream({ match: `${namespace}:*` })) keys.push(...(batch as string[]))
      if (keys.length > 0) await redis.del(...keys)
    } finally {
      redis.disconnect()
    }
  })
  return namespace
}

/** `gatekeep dev --instances 3` in a Redis project of its own, every gate open. */
async function startOpenInstances(t: TestContext, args: readonly string[] = []): Promise<DevSession> {
  const dev = await startDevSession(t, {
    instances: INSTANCES,
    args: ['--delay', '300', ...args],
    env: { GATE_NAMESPACE: isolatedNamespace(t) },
    prepare: useRedisStore,
  })
  for (let index = 0; index < INSTANCES; index++) {
    await dev.waitFor(new RegExp(`gatekeep\\s+│ service#${index}: gate open after`), 30_000)
  }
  return dev
}

async function authorizations(providerUrl: string): Promise<number> {
  const stats = (await (await fetch(`${providerUrl}/__provider/stats`)).json()) as { authorizations: number }
  return stats.authorizations
}

async function readiness(baseUrl: string): Promise<number> {
  return (await fetch(`${baseUrl}/health/ready`)).status
}

test('--instances 3: one authorization, three open gates, three tags, three services in dev.json', TIMEOUT, async (t) => {
  const dev = await startOpenInstances(t)
  assert.equal(await authorizations(dev.providerUrl), 1)
  assert.deepEqual(await Promise.all(dev.baseUrls.map(readiness)), [200, 200, 200])

  const output = dev.output()
  for (let index = 0; index < INSTANCES; index++) {
    assert.match(output, new RegExp(`^service#${index} │ .*Server listening at ${dev.baseUrls[index]}`, 'm'))
    assert.match(output, new RegExp(`gatekeep\\s+│ service#${index} listening on ${dev.baseUrls[index]} after \\d+ ms`))
  }
  assert.doesNotMatch(output, /^service {2}/m, 'no untagged instance')

  const state = readDevStateIn(dev.root)
  assert.ok(state)
  assert.deepEqual(
    state.services.map((service) => service.url),
    dev.baseUrls,
  )
  // Each pid is the process that listens: dev's children, one per port.
  assert.equal(new Set(state.services.map((service) => service.pid)).size, INSTANCES)
  for (const service of state.services) assert.ok(dev.pids().includes(service.pid))
})

test('a save restarts every instance; the shared key opens them without a new authorization', TIMEOUT, async (t) => {
  const dev = await startOpenInstances(t, ['--restart-delay', '300'])
  await dev.waitFor(/watching .+ for changes/)
  const before = readDevStateIn(dev.root)
  assert.ok(before)
  const mark = dev.output().length

  saveVersionRoute(dev.root, 2)
  await dev.waitFor(/src\/routes\/health\.ts changed: restarting the 3 services/, 10_000, mark)
  const deadline = Date.now() + 20_000
  while ((await Promise.all(dev.baseUrls.map(fetchVersion))).some((version) => version !== 2)) {
    assert.ok(Date.now() < deadline, `not every instance runs the new code:\n${dev.output().slice(mark)}`)
    await sleep(100)
  }
  for (let index = 0; index < INSTANCES; index++) {
    await dev.waitFor(new RegExp(`service#${index}: gate open after`), 15_000, mark)
  }
  assert.deepEqual(await Promise.all(dev.baseUrls.map(readiness)), [200, 200, 200])
  assert.equal(await authorizations(dev.providerUrl), 1)
  assert.equal(count(dev.output().slice(mark), /changed: restarting/), 1, 'one restart for one save')

  const after = readDevStateIn(dev.root)
  assert.ok(after)
  assert.deepEqual(
    after.services.map((service) => service.url),
    dev.baseUrls,
  )
  for (let index = 0; index < INSTANCES; index++) {
    assert.notEqual(after.services[index]?.pid, before.services[index]?.pid, `service#${index} is a new process`)
  }
})

test('a crashed instance does not end dev: it is named, the others serve, a save brings it back', TIMEOUT, async (t) => {
  const dev = await startOpenInstances(t)
  await dev.waitFor(/watching .+ for changes/)
  const crashed = readDevStateIn(dev.root)?.services[1]
  assert.ok(crashed)
  const mark = dev.output().length
  process.kill(crashed.pid, 'SIGKILL')
  await dev.waitFor(/the service#1 was killed by SIGKILL; waiting for a change to restart it/, 10_000, mark)
  assert.equal(dev.child.exitCode, null, 'dev still runs')
  assert.deepEqual(readDevStateIn(dev.root)?.services.map((service) => service.url), [dev.baseUrls[0], dev.baseUrls[2]])
  assert.equal(await readiness(dev.baseUrls[0]!), 200)
  assert.equal(await readiness(dev.baseUrls[2]!), 200)

  const saved = dev.output().length
  saveVersionRoute(dev.root, 2)
  for (let index = 0; index < INSTANCES; index++) {
    await dev.waitFor(new RegExp(`service#${index}: gate open after`), 15_000, saved)
  }
  assert.deepEqual(await Promise.all(dev.baseUrls.map(readiness)), [200, 200, 200])
  assert.equal(await authorizations(dev.providerUrl), 1)
})

test('SIGTERM with 3 instances: exit 0, every process gone, every port free', TIMEOUT, async (t) => {
  const dev = await startOpenInstances(t)
  await dev.waitFor(/watching .+ for changes/)
  // The standbys for the next restart are warming up by now: they must end too.
  await sleep(300)
  const pids = dev.pids()
  assert.ok(pids.length >= 2 + 2 * INSTANCES, `dev, provider, and an instance and a standby per port: ${pids.join(', ')}`)
  dev.child.kill('SIGTERM')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
  assert.equal(readDevStateIn(dev.root), null)
  await waitUntilGone(pids)
  for (const port of [...dev.baseUrls.map((url) => Number(new URL(url).port)), dev.providerPort]) {
    assert.equal(await waitUntilPortFree(port), true, `port ${port} is still taken`)
  }
})

/** A project where dev may run; nothing of it starts in these tests. */
function project(t: TestContext, store: 'memory' | 'redis'): string {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-instances-'))
  if (store === 'redis') useRedisStore(root)
  return root
}

for (const [store, args, pattern] of [
  ['memory', ['--instances', '2'], /^error: --instances 2 needs a shared store, .*memory.*`gatekeep init --store redis`/],
  ['redis', ['--instances', '2', '--port', '4000', '--provider-port', '4001'], /^error: the services \(ports 4000-4001\) and the provider cannot share port 4001/],
  ['redis', ['--instances', '3', '--port', '65534'], /^error: --instances 3 from port 65534 \(--port\) needs ports up to 65536, above 65535/],
  ['redis', ['--instances', '0'], /--instances <n>.*expected a whole number, 1 or more/],
  ['redis', ['--instances', 'abc'], /--instances <n>.*expected a whole number, 1 or more/],
  ['redis', ['--instances', '1.5'], /--instances <n>.*expected a whole number, 1 or more/],
] as const) {
  test(`refuses ${args.join(' ')} in a ${store} project before anything starts: exit 2, one line`, TIMEOUT, async (t) => {
    const root = project(t, store)
    const { code, stdout, stderr } = await runGatekeep(['dev', ...args], { cwd: root })
    assert.equal(code, 2, stderr)
    assert.equal(stdout, '')
    assert.match(stderr, pattern)
    assert.equal(stderr.trim().split('\n').length, 1, stderr)
    assert.equal(existsSync(path.join(root, '.env')), false, '.env was written')
    assert.equal(existsSync(path.join(root, '.gatekeep')), false, '.gatekeep was written')
  })
}

test('an instance port already taken: exit 1 naming it, nothing started', TIMEOUT, async (t) => {
  const root = project(t, 'redis')
  const port = await freePortRange(4)
  await holdPort(t, port + 2)
  const providerPort = port + 3
  const { code, stderr } = await runGatekeep(
    ['dev', '--instances', '3', '--port', String(port), '--provider-port', String(providerPort)],
    { cwd: root },
  )
  assert.equal(code, 1, stderr)
  assert.match(stderr, new RegExp(`^error: port ${port + 2} is already in use; stop what listens there or pass --port\\.\\n$`))
  assert.equal(existsSync(path.join(root, '.gatekeep')), false, '.gatekeep was written')
  assert.equal(await waitUntilPortFree(port), true)
  assert.equal(await waitUntilPortFree(providerPort), true)
})
