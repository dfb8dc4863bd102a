// The dev console's HTTP server: the page, the event stream, and the control API that the page
// and `gatekeep trigger` drive. node:http alone: dev must start fast and the surface is six routes.
//
// Who may drive it: only the developer. A page in the developer's browser from another site must
// not (CSRF), nor one that points its own host name at 127.0.0.1 (DNS rebinding), nor another
// local port's page (same *site* as ours: cookies do not tell ports apart, Origin does).
//   - Host must be 127.0.0.1:<port> or localhost:<port>, on every request (403).
//   - A request with an Origin must be same-origin (403); so must /events and /api/* requests
//     that a browser marks (Sec-Fetch-Site), which covers those it sends without an Origin.
//   - /events and /api/* need the session token (401): the `x-gatekeep-token` header (the CLI),
//     or the cookie `GET /` sets (the page) on a same-origin request. A POST without Origin comes
//     from no browser (browsers always send it on POST), so it must use the header.
//
// Answers of /api/*: 200 with the ActionResult when applied; 409 with it when the session could
// not apply it now (it says why); 400 for a body that is not what the action takes (it lists the
// choices); 413 for a body over BODY_LIMIT_BYTES; 500 when the session threw.
import { timingSafeEqual } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ActionResult, ConsoleEvent, ConsoleOptions, ConsoleSession, RunningConsole } from './types.js'

export type { ActionResult, ConsoleEvent, ConsoleOptions, ConsoleSession, RunningConsole, SnapshotEvent } from './types.js'

export const MAX_TRAFFIC_RPS = 1000
export const MAX_ABORT_COUNT = 1000
/** The largest body an action takes is `{"rps":1000}`; anything near this limit is not a request of ours. */
export const BODY_LIMIT_BYTES = 1024
/**
 * A tab that stops reading (a sleeping laptop, a paused debugger) would make dev buffer every
 * event for it; past this much unsent, its connection is cut, and the page reconnects to a fresh
 * snapshot when it reads again.
 */
const STREAM_BACKLOG_LIMIT_BYTES = 1 << 20

// The page is built into dist/console/page by `npm run build`; this module is two folders below
// the package root both as src/console/server.ts (tests, tsx) and dist/console/server.js.
const PAGE_DIR = fileURLToPath(new URL('../../dist/console/page/', import.meta.url))
const ASSET_PREFIX = '/assets/'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
}

const SECURITY_HEADERS = {
  // Everything the page loads is its own; nothing may frame it (a framed console could be clicked
  // through by another site).
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
}

interface Asset {
  type: string
  body: Buffer
}

function loadPage(): { index: Buffer; assets: Map<string, Asset> } {
  let names: string[]
  try {
    names = readdirSync(PAGE_DIR)
  } catch {
    throw new Error(`the console's page is not built (no ${PAGE_DIR}): run \`npm run build\``)
  }
  const assets = new Map<string, Asset>()
  let index: Buffer | undefined
  for (const name of names) {
    const type = CONTENT_TYPES[path.extname(name)]
    if (type === undefined) continue
    const body = readFileSync(path.join(PAGE_DIR, name))
    if (name === 'index.html') index = body
    else assets.set(`${ASSET_PREFIX}${name}`, { type, body })
  }
  if (index === undefined) throw new Error(`the console's page is not built (no index.html in ${PAGE_DIR}): run \`npm run build\``)
  return { index, assets }
}

class BadBody extends Error {}
class BodyTooLarge extends Error {}

function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  if (Number(request.headers['content-length'] ?? 0) > BODY_LIMIT_BYTES) return Promise.reject(new BodyTooLarge())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const collect = (chunk: Buffer) => {
      size += chunk.length
      if (size <= BODY_LIMIT_BYTES) return chunks.push(chunk)
      // The answer says so and closes the connection; the rest of the body is not read.
      request.off('data', collect)
      reject(new BodyTooLarge())
    }
    request.on('data', collect)
    request.on('error', reject)
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim()
      if (text === '') return resolve({})
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return reject(new BadBody('the body is not JSON'))
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) reject(new BadBody('the body is not a JSON object'))
      else resolve(body as Record<string, unknown>)
    })
  })
}

type Action = (session: ConsoleSession, body: Record<string, unknown>) => Promise<ActionResult>

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max
}

const ACTIONS = new Map<string, Action>(Object.entries({
  fire: (session) => session.fire(),
  restart: (session) => session.restart(),
  expire: (session) => session.expire(),
  mode: (session, { mode }) => {
    const { modes } = session.snapshot()
    if (typeof mode !== 'string' || !modes.includes(mode)) throw new BadBody(`"mode" must be one of: ${modes.join(', ')}`)
    return session.setMode(mode)
  },
  traffic: (session, { rps }) => {
    if (typeof rps !== 'number' || !Number.isFinite(rps) || rps < 0 || rps > MAX_TRAFFIC_RPS) {
      throw new BadBody(`"rps" must be a number from 0 (stop) to ${MAX_TRAFFIC_RPS}`)
    }
    return session.setTraffic(rps)
  },
  abort: (session, { count }) => {
    if (!isIntegerIn(count, 1, MAX_ABORT_COUNT)) throw new BadBody(`"count" must be a whole number from 1 to ${MAX_ABORT_COUNT}`)
    return session.abort(count)
  },
} satisfies Record<string, Action>))

function cookieName(port: number): string {
  // Cookies do not tell ports apart: two sessions on 127.0.0.1 would overwrite each other's.
  return `gatekeep_console_${port}`
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const separator = pair.indexOf('=')
    if (separator !== -1 && pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim()
  }
  return undefined
}

function sameSecret(given: string | undefined, expected: Buffer): boolean {
  if (given === undefined) return false
  const candidate = Buffer.from(given)
  return candidate.length === expected.length && timingSafeEqual(candidate, expected)
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  response.end(text)
}

export async function startConsole({ session, port, token }: ConsoleOptions): Promise<RunningConsole> {
  if (!/^[\w-]{16,}$/.test(token)) throw new Error('the console token must be 16 or more of A-Z a-z 0-9 _ -')
  const page = loadPage()
  const secret = Buffer.from(token)
  const streams = new Set<ServerResponse>()
  let hosts: string[] = []
  let cookie = ''

  /** Why `request` is refused before anything else; null when it may go on. */
  function refusal(request: IncomingMessage, drives: boolean): string | null {
    const host = request.headers.host ?? ''
    if (!hosts.includes(host)) return 'this console answers only to 127.0.0.1 and localhost'
    const origin = request.headers.origin
    if (origin !== undefined && origin !== `http://${host}`) return 'cross-origin requests are refused'
    // Opening the page from a link elsewhere is fine; reading the stream or acting from there is not.
    const site = request.headers['sec-fetch-site']
    if (drives && site !== undefined && site !== 'same-origin' && site !== 'none') return 'cross-origin requests are refused'
    return null
  }

  function authorized(request: IncomingMessage): boolean {
    const header = request.headers['x-gatekeep-token']
    if (typeof header === 'string') return sameSecret(header, secret)
    const browserRequest = request.method === 'GET' || request.headers.origin !== undefined
    return browserRequest && sameSecret(readCookie(request.headers.cookie, cookie), secret)
  }

  function openStream(response: ServerResponse): void {
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    })
    streams.add(response)
    const write = (event: ConsoleEvent) => {
      // Ended by close(): events until its 'close' have nowhere to go.
      if (response.writableEnded || response.destroyed) return
      // Ending would wait for the client to read the backlog; cutting it frees it now.
      if (response.writableLength > STREAM_BACKLOG_LIMIT_BYTES) response.destroy()
      else response.write(`data: ${JSON.stringify(event)}\n\n`)
    }
    // Synchronous from the snapshot to the subscription: no event can fall between the two.
    write(session.snapshot())
    const unsubscribe = session.subscribe(write)
    response.on('close', () => {
      unsubscribe()
      streams.delete(response)
    })
  }

  async function act(name: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const action = ACTIONS.get(name)
    if (action === undefined) return send(response, 404, { error: `no such action; the actions are: ${[...ACTIONS.keys()].join(', ')}` })
    let result: ActionResult
    try {
      result = await action(session, await readJson(request))
    } catch (error) {
      if (error instanceof BodyTooLarge) return send(response, 413, { error: `the body is over ${BODY_LIMIT_BYTES} bytes` }, { connection: 'close' })
      if (error instanceof BadBody) return send(response, 400, { error: error.message })
      return send(response, 500, { error: `the session failed: ${(error as Error).message}` })
    }
    send(response, result.applied ? 200 : 409, result)
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { pathname } = new URL(request.url ?? '/', 'http://console')
    const method = request.method ?? 'GET'
    const drives = pathname === '/events' || pathname.startsWith('/api/')
    const refused = refusal(request, drives)
    if (refused !== null) return send(response, 403, { error: refused })

    if (pathname.startsWith('/api/')) {
      if (method !== 'POST') return send(response, 405, { error: 'actions take POST' }, { allow: 'POST' })
      if (!authorized(request)) return send(response, 401, { error: 'the session token is missing or wrong (x-gatekeep-token)' })
      return act(pathname.slice('/api/'.length), request, response)
    }
    if (method !== 'GET') return send(response, 405, { error: 'only GET here' }, { allow: 'GET' })
    if (pathname === '/events') {
      if (!authorized(request)) return send(response, 401, { error: 'the session token is missing or wrong (open the console at / again)' })
      return openStream(response)
    }
    const asset = pathname === '/' ? { type: CONTENT_TYPES['.html'] as string, body: page.index } : page.assets.get(pathname)
    if (asset === undefined) return send(response, 404, { error: 'not found' })
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      ...(pathname === '/' && { 'set-cookie': `${cookie}=${token}; Path=/; HttpOnly; SameSite=Strict` }),
    })
    response.end(asset.body)
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, { error: (error as Error).message })
      else response.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as { port: number }).port
  hosts = [`127.0.0.1:${bound}`, `localhost:${bound}`]
  cookie = cookieName(bound)

  return {
    url: `http://127.0.0.1:${bound}/`,
    close: async () => {
      for (const stream of streams) stream.end()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}
