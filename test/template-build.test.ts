// The generated project's production build carries no dev-only code: no mock provider, no
// `/__gatekeep` route (gatekeep dev's runner adds it to the service it runs), no abort records.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import { DEV_ROUTES, PROVIDER_ENTRY, PROVIDER_ROUTES } from '../src/project/contract.js'
import { makeDevProject } from './helpers/dev.js'
import { freePort } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 60_000 }
const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const DEV_ONLY_SOURCES = ['provider/mock.ts', 'provider/mock-server.ts']

/** Every file under `dir`, by its path from `dir` with `/` separators. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort()
}

test('`npm run build` compiles every source file but the mock provider, and no /__gatekeep route', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-build-'))
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' })
  assert.equal(build.status, 0, `${build.stdout}${build.stderr}`)

  const dist = path.join(root, 'dist')
  const built = filesIn(dist).filter((file) => file.endsWith('.js'))
  const expected = filesIn(path.join(root, 'src'))
    .filter((file) => file.endsWith('.ts') && !DEV_ONLY_SOURCES.includes(file))
    .map((file) => file.replace(/\.ts$/, '.js'))
  assert.deepEqual(built, expected)
  for (const file of built) {
    assert.doesNotMatch(readFileSync(path.join(dist, file), 'utf8'), /__gatekeep/, `${file} mentions a dev route`)
  }

  // The compiled app, as `npm start` runs it, has no such route.
  const { default: app, serverOptions } = (await import(pathToFileURL(path.join(dist, 'app.js')).href)) as {
    default: FastifyPluginAsync<{ config: unknown }>
    serverOptions(config: unknown): FastifyServerOptions
  }
  const { loadConfig } = (await import(pathToFileURL(path.join(dist, 'config.js')).href)) as { loadConfig(env: object): unknown }
  const config = loadConfig({ WEBHOOK_SECRET: SECRET, PROVIDER_URL: 'http://127.0.0.1:9' })
  const server = Fastify({ ...serverOptions(config), logger: false })
  t.after(() => server.close())
  await server.register(app, { config })
  assert.equal((await server.inject(`${DEV_ROUTES.aborts}?ids=a`)).statusCode, 404)
  assert.equal((await server.inject('/health/live')).statusCode, 200)
})

test('`npm run provider` still runs the mock provider from source', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-provider-'))
  const port = await freePort()
  // Its own process group, so that npm and the provider it starts are stopped together.
  const provider = spawn('npm', ['run', 'provider'], {
    cwd: root,
    detached: true,
    env: { ...process.env, PROVIDER_PORT: String(port), WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent' },
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => provider.on('exit', resolve))
  t.after(async () => {
    if (provider.exitCode === null) process.kill(-provider.pid!, 'SIGKILL')
    await exited
  })
  const deadline = Date.now() + 30_000
  for (;;) {
    const answer = await fetch(`http://127.0.0.1:${port}${PROVIDER_ROUTES.stats}`).catch(() => null)
    if (answer?.ok) break
    assert.ok(Date.now() < deadline && provider.exitCode === null, `${PROVIDER_ENTRY} did not answer on port ${port}`)
    await sleep(100)
  }
})
