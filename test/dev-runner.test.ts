// The runner inside the processes dev starts, driven directly through DevProcess: the events it
// forwards, the dev plugin it attaches to the service, and the commands it answers over IPC.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { DevProcess } from '../src/dev/child.js'
import { DEV_ROUTES, PROVIDER_ENTRY, SERVICE_ENTRY, type AbortsAnswer, type ServiceEvent } from '../src/project/contract.js'
import { makeDevProject } from './helpers/dev.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'
import { freePort, holdPort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 60_000 }
const SECRET = `whsec_${randomBytes(32).toString('base64')}`

interface Started {
  child: DevProcess
  events: ServiceEvent[]
  ignored: unknown[]
  output: string[]
  /** Resolves with the first event, seen or to come, that `match` accepts. */
  nextEvent(match: (event: ServiceEvent) => boolean, timeoutMs?: number): Promise<ServiceEvent>
}

/** A DevProcess as the session starts it, recording what it reports; killed when the test ends. */
function startChild(t: TestContext, root: string, role: 'service' | 'provider', env: Record<string, string>): Started {
  const events: ServiceEvent[] = []
  const ignored: unknown[] = []
  const output: string[] = []
  const waiters = new Set<() => void>()
  const child = new DevProcess({
    root,
    role,
    env: { ...(process.env as Record<string, string>), LOG_LEVEL: 'silent', WEBHOOK_SECRET: SECRET, ...env },
    entry: path.join(root, role === 'service' ? SERVICE_ENTRY : PROVIDER_ENTRY),
    onLine: (line) => output.push(line),
    onEvent: (event) => {
      events.push(event)
      for (const check of waiters) check()
    },
    onIgnored: (message) => ignored.push(message),
  })
  t.after(async () => {
    child.kill()
    await child.exited
  })
  return {
    child,
    events,
    ignored,
    output,
    nextEvent(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no such event within ${timeoutMs} ms; events: ${JSON.stringify(events)}; output: ${output.join('\n')}`))
        }, timeoutMs)
        const check = () => {
          const event = events.find(match)
          if (event === undefined) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(event)
        }
        waiters.add(check)
        check()
      })
    },
  }
}

test('the service: events forwarded, the aborts route and command answer alike, expire closes the gate', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-runner-'))
  const providerPort = await freePort()
  const provider = startChild(t, root, 'provider', { PROVIDER_PORT: String(providerPort), PROVIDER_DELAY_MS: '100' })
  // The provider publishes no events: the runner reports its server's.
  assert.equal(await provider.child.listening, `http://127.0.0.1:${providerPort}`)

  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const service = startChild(t, root, 'service', { PORT: String(port), PROVIDER_URL: `http://127.0.0.1:${providerPort}`, PUBLIC_URL: baseUrl })
  assert.equal(await service.child.listening, baseUrl)
  await service.nextEvent((event) => event.type === 'gate' && event.state === 'open')
  assert.deepEqual(service.output, [], 'LOG_LEVEL=silent: the service wrote nothing')
  assert.deepEqual(service.ignored, [])

  // simulate-abort finds the route the runner's plugin added; the command answers the same.
  const run = await runGatekeep(['simulate-abort', '--url', baseUrl, '--count', '2', '--json'], { cwd: repoRoot })
  assert.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout) as { source: string; detected: number; results: Array<{ requestId: string }> }
  assert.equal(report.source, 'service')
  assert.equal(report.detected, 2)
  const ids = [...report.results.map((row) => row.requestId), 'never-sent']
  const overHttp = (await (await fetch(`${baseUrl}${DEV_ROUTES.aborts}?ids=${ids.join(',')}`)).json()) as AbortsAnswer
  const overIpc = await service.child.command('aborts', { ids })
  assert.deepEqual(overIpc, overHttp)
  assert.deepEqual(
    overIpc.results.map(({ detected, cancelled }) => ({ detected, cancelled })),
    [{ detected: true, cancelled: true }, { detected: true, cancelled: true }, { detected: false, cancelled: null }],
  )
  const forwarded = service.events.flatMap((event) => (event.type === 'abort' ? [event.requestId] : []))
  assert.deepEqual(forwarded.sort(), ids.slice(0, 2).sort(), 'each abort was forwarded to dev, once')

  assert.deepEqual(await service.child.command('expire', {}), { expired: true })
  await service.nextEvent((event) => event.type === 'gate' && event.from === 'open' && event.reason === 'key-expired')
  assert.equal((await fetch(`${baseUrl}/health/ready`)).status, 503)
})

/** A service entry of the test's own: Fastify, a listening event, then whatever `after` does. */
function stubService(root: string, after: string): void {
  writeFileSync(
    path.join(root, SERVICE_ENTRY),
    [
      "import { channel } from 'node:diagnostics_channel'",
      "import Fastify from 'fastify'",
      'const app = Fastify()',
      "const url = await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })",
      "channel('gatekeep:listening').publish({ type: 'listening', app: 1, url })",
      after,
    ].join('\n'),
  )
}

test('messages off the vocabulary are handed to onIgnored, never to onEvent; a service without a gate cannot expire', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-runner-'))
  stubService(
    root,
    [
      "channel('gatekeep:gate').publish({ type: 'gate', app: 1, state: 'sideways', from: 'idle' })",
      // Not serializable: the runner sends a stand-in rather than throw inside the publisher.
      "channel('gatekeep:store').publish({ type: 'store', app: 1, up: true, describe() {} })",
      "channel('gatekeep:store').publish({ type: 'store', app: 1, up: false })",
    ].join('\n'),
  )
  const port = await freePort()
  const service = startChild(t, root, 'service', { PORT: String(port) })
  await service.nextEvent((event) => event.type === 'store')
  assert.deepEqual(service.events.map((event) => event.type === 'store' ? event.up : event.type), ['listening', false])
  assert.equal(service.ignored.length, 2)
  assert.match(JSON.stringify(service.ignored[1]), /"unsendable":"[^"]*could not be cloned/)
  await assert.rejects(service.child.command('expire', {}), /this service's gate has no expire\(\)/)
  assert.deepEqual(await service.child.command('aborts', { ids: ['x'] }), {
    results: [{ requestId: 'x', detected: false, detectedAt: null, cancelled: null }],
  })
  assert.equal((await fetch(`http://127.0.0.1:${port}${DEV_ROUTES.aborts}?ids=`)).status, 200, 'the route is there on any Fastify service')
})

test('a command to a process that has exited is refused at once', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-runner-'))
  stubService(root, 'process.exit(3)')
  const service = startChild(t, root, 'service', { PORT: String(await freePort()) })
  assert.deepEqual(await service.child.exited, { code: 3, signal: null })
  await assert.rejects(service.child.command('aborts', { ids: [] }), /^Error: it is not running$/)
})

test('a provider that cannot listen: the runner reports it in the same words', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-runner-'))
  const port = await holdPort(t)
  const provider = startChild(t, root, 'provider', { PROVIDER_PORT: String(port) })
  const failure = await provider.nextEvent((event) => event.type === 'listen-failed')
  assert.deepEqual({ ...failure, message: undefined }, { type: 'listen-failed', app: 0, code: 'EADDRINUSE', message: undefined })
  assert.equal(await provider.child.listening, null)
})
