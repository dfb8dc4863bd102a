/**
 * The first module of every process `gatekeep dev` runs (`node --import tsx runner.js <role>
 * [entry]`, in the project's folder). Given the entry it imports it at once (the provider).
 * Without, it is a standby for the next service: Node, tsx and the project's dependencies take
 * most of a cold start, so it loads them ahead of time, while the current service still runs,
 * and imports the entry when dev says so. A restart then only pays for the project's
 * own modules.
 *
 * It is dev's side inside the process: it forwards the service's `gatekeep:*` events to dev,
 * attaches the dev-only plugin (service-plugin.ts) and answers dev's commands through it, and
 * tells dev when the provider (which publishes no events) listens. It also ends the process when
 * dev is gone, even killed outright: the IPC channel closes with it. This keeps the
 * generated project free of dev-only code.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { CHANNEL_PREFIX, EVENT_TYPES, type ServiceEvent } from '../project/contract.js'
import type { ChildMessage, ChildRole, CommandMessage, ReplyMessage, RunnerMessage } from './protocol.js'
import { attachDevPlugin, type ServiceHandle } from './service-plugin.js'

/** How long a service gets to shut down by itself once dev is gone. */
const ORPHAN_GRACE_MS = 5000
/** Published by Fastify 5 at the end of `fastify()`, with the new instance. */
const FASTIFY_INITIALIZATION = 'fastify.initialization'

let entryImported = false

process.on('disconnect', () => {
  if (!entryImported) process.exit(0)
  // Shut down as on Ctrl-C; a service that ignores SIGTERM is ended anyway.
  setTimeout(() => process.exit(1), ORPHAN_GRACE_MS).unref()
  process.kill(process.pid, 'SIGTERM')
})

const role = process.argv[2] as ChildRole
const entryPath = process.argv[3] ?? (await standBy())
entryImported = true
// The channel must not keep a service alive that would otherwise exit (after a graceful close).
// Set explicitly, it also holds for the listeners added below.
process.channel?.unref()
// After the warm-up, whose throwaway Fastify instance is not the entry's.
if (role === 'service') {
  forwardEvents()
  const commands = answerCommands()
  onFirstFastify((fastify) => commands.attach(attachDevPlugin(fastify)))
} else {
  onFirstFastify((fastify) => reportListening((fastify as { server: Server }).server))
}
// As `node --import tsx <entry>` would show it, for code that checks which module is the main one.
process.argv.splice(1, Infinity, entryPath)
await import(pathToFileURL(entryPath).href)

/** To dev. Nothing is sent once dev is gone; a send failing as dev goes is no concern of the service. */
function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message, () => {})
}

/**
 * Forwards every event the service publishes, as published; dev checks them. One that cannot
 * be sent (not serializable) is replaced by a stand-in that dev counts as malformed: a
 * subscriber that throws would crash the service.
 */
function forwardEvents(): void {
  for (const type of EVENT_TYPES) {
    subscribe(`${CHANNEL_PREFIX}${type}`, (event) => {
      try {
        send({ type: 'event', event })
      } catch (error) {
        send({ type: 'event', event: { type, unsendable: (error as Error).message } })
      }
    })
  }
}

/** Answers dev's commands through the dev plugin, once the service has created its instance. */
function answerCommands(): { attach(handle: ServiceHandle): void } {
  let service: ServiceHandle | null = null
  const answer = async (command: CommandMessage): Promise<ReplyMessage> => {
    try {
      if (service === null) throw new Error('the service has not created its Fastify instance yet')
      const result = command.type === 'aborts' ? service.aborts(command.ids) : await service.expire()
      return { type: 'reply', id: command.id, result }
    } catch (error) {
      return { type: 'reply', id: command.id, error: (error as Error).message }
    }
  }
  process.on('message', (message: RunnerMessage) => {
    if (message.type !== 'start') void answer(message).then(send)
  })
  return {
    attach(handle) {
      service = handle
    },
  }
}

/** Calls `use` with the first Fastify instance the process creates. */
function onFirstFastify(use: (fastify: unknown) => void): void {
  const onInstance = (message: unknown) => {
    unsubscribe(FASTIFY_INITIALIZATION, onInstance)
    use((message as { fastify: unknown }).fastify)
  }
  subscribe(FASTIFY_INITIALIZATION, onInstance)
}

/**
 * The provider publishes no events: its server tells when it listens, or fails to, in the
 * service's vocabulary, as app 0.
 */
function reportListening(server: Server): void {
  const onError = (error: NodeJS.ErrnoException) => {
    const event: ServiceEvent<'listen-failed'> = { type: 'listen-failed', app: 0, code: error.code ?? null, message: error.message }
    send({ type: 'event', event })
  }
  server.once('error', onError)
  server.once('listening', () => {
    server.off('error', onError)
    const event: ServiceEvent<'listening'> = { type: 'listening', app: 0, url: urlOf(server.address()) }
    send({ type: 'event', event })
  })
}

function urlOf(address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') return String(address)
  const unspecified = address.address === '0.0.0.0' || address.address === '::'
  const host = unspecified ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

/** Warms up, then waits for dev's go; resolves with the entry to import. */
async function standBy(): Promise<string> {
  // Listening before the warm-up: a message that arrived with no listener would be lost.
  const entry = new Promise<string>((resolve) => {
    const onMessage = (message: RunnerMessage) => {
      if (message.type !== 'start') return
      process.off('message', onMessage)
      resolve(message.entry)
    }
    process.on('message', onMessage)
  })
  await warmUp()
  return entry
}

/**
 * Loads what every start of the entry would load again. Failures are ignored: the entry meets
 * the same problem and reports it.
 */
async function warmUp(): Promise<void> {
  const projectRequire = createRequire(path.resolve('package.json'))
  let dependencies: Record<string, string> = {}
  try {
    dependencies = (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}
  } catch {
    return
  }
  for (const name of Object.keys(dependencies)) {
    try {
      // Resolved from the project, as its own imports are. A package whose `import` and
      // `require` entries differ is loaded twice; the entry then uses the ESM one, still correct.
      await import(pathToFileURL(projectRequire.resolve(name)).href)
    } catch {
      // Not loadable this way (types only, ESM without a require entry): the entry loads it.
    }
  }
  if ('fastify' in dependencies) await warmFastify(projectRequire)
  await warmTypeScript()
}

interface MinimalFastify {
  get(path: string, options: object, handler: () => Promise<unknown>): void
  inject(path: string): Promise<unknown>
  close(): Promise<void>
}

/**
 * Fastify loads its logger, router, schema compilers and serializers on first use; a throwaway
 * instance that answers one request loads them here, about half of a restart otherwise.
 */
async function warmFastify(projectRequire: NodeJS.Require): Promise<void> {
  try {
    const fastify = projectRequire('fastify') as (options: object) => MinimalFastify
    const app = fastify({ logger: { level: 'info', stream: { write() {} } } })
    const schema = { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }
    app.get('/', { schema }, async () => ({ ok: true }))
    await app.inject('/')
    await app.close()
  } catch {
    // A Fastify this warm-up does not know how to drive: the entry just starts colder.
  }
}

/**
 * tsx starts its TypeScript compiler on the first file its cache does not hold; after a save
 * that is the changed file, on the clock. A throwaway module that no cache can hold starts it
 * now. `.mts` is ESM wherever it lives, so it goes through the same loader as the project.
 */
async function warmTypeScript(): Promise<void> {
  const file = path.join(tmpdir(), `gatekeep-warm-${process.pid}.mts`)
  try {
    writeFileSync(file, `export const warmedAt: number = ${Date.now()}\n`)
    await import(pathToFileURL(file).href)
  } catch {
    // Only slower.
  } finally {
    try {
      unlinkSync(file)
    } catch {
      // Already gone or never written.
    }
  }
}
