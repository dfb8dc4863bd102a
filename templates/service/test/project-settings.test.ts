// `npm start` and `npm run provider` read the project's settings from package.json "gatekeep",
// as `gatekeep dev` does, and the environment (`.env` included) overrides them. Each test runs
// the entry files in a copy of this project with its own package.json, as real processes.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, SECRET, waitFor } from './helper.js'

const TSX = import.meta.resolve('tsx')
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url))
// The folder this project's dependencies are installed in (its own, or a workspace's).
const NODE_MODULES = dirname(dirname(fileURLToPath(import.meta.resolve('fastify'))))
const SERVICE_ENTRY = 'src/server.ts'
const PROVIDER_ENTRY = 'src/provider/mock-server.ts'

/** A copy of this project whose package.json "gatekeep" holds `settings`, removed after the test. */
function projectWith(t: TestContext, settings: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatekeep-settings-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(PROJECT_ROOT, 'src'), join(dir, 'src'), { recursive: true })
  const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { gatekeep: object }
  manifest.gatekeep = { ...manifest.gatekeep, ...settings }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest))
  symlinkSync(NODE_MODULES, join(dir, 'node_modules'), 'dir')
  return dir
}

interface Child {
  process: ChildProcess
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

/**
 * An entry file run from the project's folder as npm would, with only `env` set (and a namespace
 * of its own, so that with the Redis store nothing is shared with another test); killed after
 * the test.
 */
function run(t: TestContext, project: string, entry: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', TSX, join(project, entry)], {
    cwd: project,
    env: { PATH: process.env.PATH, GATE_NAMESPACE: `gatekeep-test-${randomUUID()}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const result: Child = { process: child, stdout: [], stderr: [], exited: once(child, 'exit').then(([code]) => code as number | null) }
  child.stdout?.on('data', (chunk: Buffer) => result.stdout.push(...String(chunk).split('\n').filter(Boolean)))
  child.stderr?.on('data', (chunk: Buffer) => result.stderr.push(...String(chunk).split('\n').filter(Boolean)))
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await result.exited
    }
  })
  return result
}

/** The first log line carrying `msg`, once the child has written it (or died trying). */
async function logLine(child: Child, msg: string): Promise<Record<string, unknown>> {
  const line = await waitFor(
    () => child.stdout.find((entry) => entry.includes(msg)) ?? (child.process.exitCode === null ? null : 'exited'),
    { timeoutMs: 15_000, what: `"${msg}"` },
  )
  assert.notEqual(line, 'exited', child.stderr.join('\n') + child.stdout.join('\n'))
  return JSON.parse(line) as Record<string, unknown>
}

async function ready(url: string): Promise<boolean> {
  const response = await request(`${url}/health/ready`).catch(() => null)
  await response?.body.dump()
  return response?.statusCode === 200
}

test('npm run provider reads its port and delay from package.json "gatekeep"', { timeout: 30_000 }, async (t) => {
  const providerPort = await freePort()
  const project = projectWith(t, { providerPort, delay: 1234 })
  const provider = run(t, project, PROVIDER_ENTRY, { WEBHOOK_SECRET: SECRET })
  const line = await logLine(provider, 'mock provider ready')
  assert.equal(line.delayMs, 1234)
  const stats = await request(`http://127.0.0.1:${providerPort}/__provider/stats`)
  assert.equal(stats.statusCode, 200)
  await stats.body.dump()
})

test("npm start with another PORT opens its gate against the provider on package.json's providerPort", { timeout: 30_000 }, async (t) => {
  const [projectPort, servicePort, providerPort] = [await freePort(), await freePort(), await freePort()]
  const project = projectWith(t, { port: projectPort, providerPort, delay: 50 })
  // Keys with a lifetime, so that with the Redis store nothing outlives the test for long.
  const provider = run(t, project, PROVIDER_ENTRY, { WEBHOOK_SECRET: SECRET, PROVIDER_TTL_S: '60' })
  await logLine(provider, 'mock provider ready')
  // Neither PROVIDER_URL nor PUBLIC_URL: the provider from package.json, the callback where it listens.
  const service = run(t, project, SERVICE_ENTRY, { WEBHOOK_SECRET: SECRET, PORT: String(servicePort) })
  await logLine(service, 'Server listening')
  const url = `http://127.0.0.1:${servicePort}`
  await waitFor(() => ready(url), { timeoutMs: 10_000, what: 'the gate to open' })
  const stats = await request(`http://127.0.0.1:${providerPort}/__provider/stats`)
  const { authorizations, webhooksDelivered } = (await stats.body.json()) as { authorizations: number; webhooksDelivered: number }
  assert.deepEqual({ authorizations, webhooksDelivered }, { authorizations: 1, webhooksDelivered: 1 })
})

test("npm start without PORT listens on package.json's port", { timeout: 30_000 }, async (t) => {
  const projectPort = await freePort()
  const project = projectWith(t, { port: projectPort })
  const service = run(t, project, SERVICE_ENTRY, { WEBHOOK_SECRET: SECRET, PROVIDER_URL: 'http://127.0.0.1:9' })
  await logLine(service, 'Server listening')
  const live = await request(`http://127.0.0.1:${projectPort}/health/live`)
  assert.deepEqual(await live.body.json(), { status: 'ok' })
})

test('a bad PORT in .env stops the service with one line naming .env; a bad package.json port names package.json', { timeout: 30_000 }, async (t) => {
  const project = projectWith(t, {})
  writeFileSync(join(project, '.env'), `WEBHOOK_SECRET=${SECRET}\nPORT=abc\n`)
  const fromDotEnv = run(t, project, SERVICE_ENTRY, {})
  assert.equal(await fromDotEnv.exited, 1)
  assert.deepEqual(fromDotEnv.stderr, ['error: PORT (from .env) must be a whole number from 0 to 65535; got "abc".'])

  const badManifest = projectWith(t, { port: 'three thousand' })
  const fromManifest = run(t, badManifest, SERVICE_ENTRY, { WEBHOOK_SECRET: SECRET })
  assert.equal(await fromManifest.exited, 1)
  assert.deepEqual(fromManifest.stderr, ['error: package.json "gatekeep".port must be a whole number from 0 to 65535; got "three thousand".'])
})
