// `gatekeep dev` follows the service through its typed events alone: whatever the service logs,
// or whether it logs at all, dev tells the same story, and bad or missing events never break it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { SERVICE_ENTRY } from '../src/project/contract.js'
import { count, readDevStateIn, saveVersionRoute, startDevSession } from './helpers/dev.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'

const TIMEOUT = { timeout: 60_000 }

/** A project whose service logs nothing, and says it listens in its own words. */
function quietWithOwnListenText(root: string): void {
  const server = path.join(root, SERVICE_ENTRY)
  const source = readFileSync(server, 'utf8')
  const changed = source.replace('server.listen({', 'server.listen({ listenTextResolver: (address) => `up and running on ${address}`, ')
  assert.notEqual(changed, source, 'src/server.ts has no server.listen({ call to change')
  writeFileSync(server, changed)
  writeFileSync(path.join(root, '.env'), `WEBHOOK_SECRET=whsec_${randomBytes(32).toString('base64')}\nLOG_LEVEL=silent\n`)
}

test('with its own listen text and LOG_LEVEL=silent: the whole story, dev.json, and simulate-abort', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '800', '--restart-delay', '200'], prepare: quietWithOwnListenText })
  await dev.waitFor(/gatekeep │ service listening on (\S+) after \d+ ms/, 30_000)
  await dev.waitFor(/gatekeep │ gate pending: customer routes answer 503 until the provider calls back, in 0\.8 s/)
  await dev.waitFor(/gatekeep │ webhook received\n(.*\n)*?gatekeep │ gate open after \d+\.\d s: customer routes are served/)
  assert.deepEqual(readDevStateIn(dev.root)?.services.map((service) => service.url), [dev.baseUrl])
  await dev.waitFor(/watching .+ for changes/)

  const before = dev.output().length
  saveVersionRoute(dev.root, 1)
  await dev.waitFor(/gatekeep │ src\/routes\/health\.ts changed: restarting the service\n/, 10_000, before)
  await dev.waitFor(/gatekeep │ service listening on/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate pending: customer routes answer 503 until the provider calls back, in 0\.2 s/, 10_000, before)
  await dev.waitFor(/gatekeep │ gate open after/, 10_000, before)
  assert.equal(count(dev.output().slice(before), /service listening on/), 1)
  assert.deepEqual(readDevStateIn(dev.root)?.services.map((service) => service.url), [dev.baseUrl])

  const run = await runGatekeep(['simulate-abort', '--count', '2'], { cwd: dev.root })
  assert.equal(run.code, 0, `${run.stdout}${run.stderr}`)
  assert.match(run.stdout, /\(the running gatekeep dev session, from \.gatekeep\/dev\.json\)/)
  assert.match(run.stdout, /^2\/2 aborts detected \(median [\d.]+ ms after hang-up\); downstream call cancelled in 2\/2$/m)

  // The service and the provider logged nothing: every line is gatekeep's own.
  for (const line of dev.output().trimEnd().split('\n')) assert.match(line, /^gatekeep │ /)
})

/** A service entry of the test's own: Fastify listening on PORT, then `after`. */
function stubService(after: string[]): (root: string) => void {
  return (root) =>
    writeFileSync(
      path.join(root, SERVICE_ENTRY),
      [
        "import { channel } from 'node:diagnostics_channel'",
        "import Fastify from 'fastify'",
        'const app = Fastify()',
        "app.get('/health/live', async () => ({ status: 'ok' }))",
        "const url = await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })",
        ...after,
      ].join('\n'),
    )
}

const BAD_EVENTS = [
  "channel('gatekeep:gate').publish({ type: 'gate', app: 1, state: 'sideways', from: 'idle' })",
  "channel('gatekeep:webhook').publish({ type: 'webhook', app: 1, outcome: 'teleported' })",
]

test('--verbose: each message off the vocabulary is shown and counted; dev goes on', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, {
    args: ['--delay', '100', '--verbose'],
    prepare: stubService(["channel('gatekeep:listening').publish({ type: 'listening', app: 1, url })", ...BAD_EVENTS]),
  })
  await dev.waitFor(/gatekeep │ service listening on/, 30_000)
  await dev.waitFor(/ignored a message from the service that is no gatekeep event \(1 so far\): \{"type":"gate","app":1,"state":"sideways"/)
  await dev.waitFor(/ignored a message from the service that is no gatekeep event \(2 so far\): \{"type":"webhook"/)
  assert.deepEqual(readDevStateIn(dev.root)?.services.map((service) => service.url), [dev.baseUrl])
  dev.child.kill('SIGINT')
  assert.deepEqual(await dev.exited, { code: 0, signal: null })
})

test('a service that never says it listens is reported once, after a bounded wait, and left running', TIMEOUT, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100'], prepare: stubService(BAD_EVENTS) })
  await dev.waitFor(
    /gatekeep │ service: no "listening" event 5 s after its start; still waiting \(the service publishes it on gatekeep:listening, see src\/events\.ts\)/,
    30_000,
  )
  assert.equal(count(dev.output(), /no gatekeep event/), 1, dev.output())
  assert.match(dev.output(), /ignored a message from the service that is no gatekeep event; --verbose shows each, with the count/)
  assert.equal((await fetch(`${dev.baseUrl}/health/live`)).status, 200, 'the service runs on')
  assert.deepEqual(readDevStateIn(dev.root)?.services, [])
  assert.equal(dev.child.exitCode, null)
})

test("a service that cannot listen (its port taken once dev checked it): exit 1 naming the port", TIMEOUT, async (t) => {
  const dev = await startDevSession(t, {
    args: ['--delay', '100'],
    // Takes the port itself just before src/server.ts listens: what another program could do.
    prepare: (root) => {
      const server = path.join(root, SERVICE_ENTRY)
      const takePort = [
        "import { createServer as holdThePort } from 'node:net'",
        // Unreferenced: it must not keep the process alive once the service has closed.
        "await new Promise((resolve) => holdThePort().listen(Number(process.env.PORT), '127.0.0.1', () => resolve(null)).unref())",
      ].join('\n')
      writeFileSync(server, `${takePort}\n${readFileSync(server, 'utf8')}`)
      writeFileSync(path.join(root, '.env'), `WEBHOOK_SECRET=whsec_${randomBytes(32).toString('base64')}\nLOG_LEVEL=silent\n`)
    },
  })
  const { code } = await dev.exited
  assert.equal(code, 1, dev.output())
  assert.match(dev.output(), new RegExp(`error: the service cannot listen: port ${dev.port} is already in use; stop what listens there or pass --port\\.\\n$`))
  assert.equal(readDevStateIn(dev.root), null)
})

test('no file in src/dev reads what the children log: their lines are only printed', async () => {
  const dir = path.join(repoRoot, 'src', 'dev')
  for (const file of readdirSync(dir)) {
    const source = readFileSync(path.join(dir, file), 'utf8')
    assert.doesNotMatch(source, /Server listening|listening at|\.msg\b|record\.event|LogRecord|parseLogRecord/, file)
  }
  // The one module that looks at a line (to pretty-print it) hands nothing parsed to anyone.
  assert.deepEqual(Object.keys(await import('../src/dev/log-view.js')).sort(), ['LogView', 'serviceTags'])
})
