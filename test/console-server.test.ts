// The dev console's HTTP server against a fake session: who may read and drive it, what the
// control API answers, and the event stream's order and end.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test, type TestContext } from 'node:test'
import { BODY_LIMIT_BYTES, MAX_ABORT_COUNT, MAX_TRAFFIC_RPS, startConsole } from '../src/console/server.js'
import { call, FakeSession, openEvents, PROVIDER_MODES, TOKEN } from './helpers/console.js'
import { freePort, holdPort } from './helpers/ports.js'

async function consoleFor(t: TestContext, session = new FakeSession()) {
  const port = await freePort()
  const running = await startConsole({ session, port, token: TOKEN })
  t.after(() => running.close())
  const base = running.url
  const origin = `http://127.0.0.1:${port}`
  return { session, running, base, port, origin }
}

const cli = { 'x-gatekeep-token': TOKEN }
const json = { 'content-type': 'application/json' }

test('it listens on 127.0.0.1 at the port given and announces that URL', async (t) => {
  const { running, port } = await consoleFor(t)
  assert.equal(running.url, `http://127.0.0.1:${port}/`)
})

test("a port already taken is an error at start, with the system's code", async (t) => {
  const port = await holdPort(t)
  await assert.rejects(startConsole({ session: new FakeSession(), port, token: TOKEN }), { code: 'EADDRINUSE' })
})

test('a token that would not survive a cookie, or is short, is refused at start', async () => {
  await assert.rejects(startConsole({ session: new FakeSession(), port: 0, token: 'short' }), /16 or more/)
  await assert.rejects(startConsole({ session: new FakeSession(), port: 0, token: 'a;b=c0123456789abcdef' }), /16 or more/)
})

test('GET / serves the page and sets the token as an HttpOnly, SameSite=Strict cookie named for the port', async (t) => {
  const { base, port } = await consoleFor(t)
  const page = await call(base, '/')
  assert.equal(page.status, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  assert.match(page.body, /<title>gatekeep dev console<\/title>/)
  const cookie = String(page.headers['set-cookie'])
  assert.match(cookie, new RegExp(`^gatekeep_console_${port}=${TOKEN};`))
  assert.match(cookie, /; HttpOnly/)
  assert.match(cookie, /; SameSite=Strict/)
  assert.match(cookie, /; Path=\//)
  // Nothing but its own host, and no framing by another site.
  const policy = String(page.headers['content-security-policy'])
  assert.match(policy, /default-src 'none'/)
  assert.match(policy, /script-src 'self'/)
  assert.match(policy, /connect-src 'self'/)
  assert.match(policy, /frame-ancestors 'none'/)
  assert.equal(page.headers['x-content-type-options'], 'nosniff')
})

test('the page references only its own assets, and each is served with its type', async (t) => {
  const { base } = await consoleFor(t)
  const page = await call(base, '/')
  const references = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string)
  assert.ok(references.length >= 4, references.join(' '))
  for (const reference of references) {
    assert.match(reference, /^\/assets\/[\w.-]+$/, `${reference} is one of the console's own assets`)
    const asset = await call(base, reference)
    assert.equal(asset.status, 200, reference)
    assert.match(String(asset.headers['content-type']), /^(text\/javascript|text\/css|image\/svg\+xml)/, reference)
    assert.equal(asset.headers['set-cookie'], undefined, `${reference} sets no cookie`)
  }
  for (const path of ['/assets/../server.js', '/assets/%2e%2e/server.js', '/assets/', '/assets/nope.js', '/server.js', '/index.html']) {
    assert.equal((await call(base, path)).status, 404, path)
  }
})

test('a Host other than 127.0.0.1:<port> or localhost:<port> is refused on every route (DNS rebinding)', async (t) => {
  const { base, port } = await consoleFor(t)
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `localhost`, `127.0.0.1`, `[::1]:${port}`, `0.0.0.0:${port}`]) {
    for (const [method, path] of [['GET', '/'], ['GET', '/assets/main.js'], ['GET', '/events'], ['POST', '/api/fire']] as const) {
      const answer = await call(base, path, { method, headers: { ...cli, host } })
      assert.equal(answer.status, 403, `${method} ${path} with Host ${host}`)
      assert.equal(answer.headers['set-cookie'], undefined)
    }
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
    assert.equal((await call(base, '/', { headers: { host } })).status, 200, host)
    assert.equal((await call(base, '/api/fire', { method: 'POST', headers: { ...cli, host } })).status, 200, host)
  }
})

test('a request from another origin is refused, even with the cookie (CSRF)', async (t) => {
  const { base, port, session } = await consoleFor(t)
  const cookie = `gatekeep_console_${port}=${TOKEN}`
  for (const origin of ['http://evil.example', `http://127.0.0.1:${port + 1}`, `http://localhost:${port}`, `https://127.0.0.1:${port}`, 'null']) {
    const answer = await call(base, '/api/fire', { method: 'POST', headers: { origin, cookie, ...cli } })
    assert.equal(answer.status, 403, origin)
    assert.equal((await call(base, '/events', { headers: { origin, cookie } })).status, 403, origin)
  }
  // Another page of this machine: the same site (cookies do not tell ports apart), another origin.
  for (const site of ['same-site', 'cross-site']) {
    assert.equal((await call(base, '/events', { headers: { cookie, 'sec-fetch-site': site } })).status, 403, site)
    assert.equal((await call(base, '/api/fire', { method: 'POST', headers: { cookie, 'sec-fetch-site': site } })).status, 403, site)
  }
  assert.deepEqual(session.calls, [])
})

test('the page drives it with its cookie on same-origin requests; the CLI with the header', async (t) => {
  const { base, port, origin, session } = await consoleFor(t)
  const cookie = `gatekeep_console_${port}=${TOKEN}`
  const page = await call(base, '/api/fire', { method: 'POST', headers: { origin, cookie, 'sec-fetch-site': 'same-origin' } })
  assert.equal(page.status, 200)
  assert.deepEqual(JSON.parse(page.body), { applied: true, changed: 'the provider called back' })
  const viaLocalhost = await call(base, '/api/fire', { method: 'POST', headers: { host: `localhost:${port}`, origin: `http://localhost:${port}`, cookie } })
  assert.equal(viaLocalhost.status, 200)
  assert.equal((await call(base, '/api/restart', { method: 'POST', headers: cli })).status, 200)
  assert.deepEqual(session.calls, ['fire', 'fire', 'restart'])
})

test('without the token, or with a wrong one, nothing is read or driven', async (t) => {
  const { base, port, origin, session } = await consoleFor(t)
  const wrong = TOKEN.replace(/.$/, 'X')
  const refused: [string, Record<string, string>][] = [
    ['no token', {}],
    ['a wrong header', { 'x-gatekeep-token': wrong }],
    ['a short header', { 'x-gatekeep-token': TOKEN.slice(0, 8) }],
    ['a wrong cookie', { origin, cookie: `gatekeep_console_${port}=${wrong}` }],
    ["another port's cookie", { origin, cookie: `gatekeep_console_${port + 1}=${TOKEN}` }],
    // A wrong header is not rescued by a right cookie.
    ['a wrong header beside the cookie', { origin, cookie: `gatekeep_console_${port}=${TOKEN}`, 'x-gatekeep-token': wrong }],
  ]
  for (const [what, headers] of refused) {
    const action = await call(base, '/api/expire', { method: 'POST', headers })
    assert.equal(action.status, 401, what)
    assert.match(JSON.parse(action.body).error, /token/)
    assert.equal((await call(base, '/events', { headers })).status, 401, what)
  }
  // No browser POSTs without Origin: such a request is the CLI's, and must carry the header.
  const cookieOnly = await call(base, '/api/expire', { method: 'POST', headers: { cookie: `gatekeep_console_${port}=${TOKEN}` } })
  assert.equal(cookieOnly.status, 401)
  assert.deepEqual(session.calls, [])
})

test('each action calls the session and answers its result: 200 applied, 409 not applied', async (t) => {
  const { base, session } = await consoleFor(t)
  const post = (path: string, body?: unknown) => call(base, path, { method: 'POST', headers: { ...cli, ...json }, ...(body !== undefined && { body: JSON.stringify(body) }) })

  for (const [path, body, expected] of [
    ['/api/fire', undefined, 'fire'],
    ['/api/restart', {}, 'restart'],
    ['/api/expire', undefined, 'expire'],
    ['/api/mode', { mode: 'reject' }, 'mode reject'],
    ['/api/traffic', { rps: 2.5 }, 'traffic 2.5'],
    ['/api/traffic', { rps: 0 }, 'traffic 0'],
    ['/api/abort', { count: 3 }, 'abort 3'],
  ] as const) {
    const answer = await post(path, body)
    assert.equal(answer.status, 200, path)
    assert.match(String(answer.headers['content-type']), /^application\/json/)
    const result = JSON.parse(answer.body) as { applied: boolean; changed: string }
    assert.equal(result.applied, true)
    assert.equal(typeof result.changed, 'string')
    assert.equal(session.calls.at(-1), expected)
  }

  session.restartRefusal = 'the service is restarting already'
  const refused = await post('/api/restart')
  assert.equal(refused.status, 409)
  assert.deepEqual(JSON.parse(refused.body), { applied: false, reason: 'the service is restarting already' })
})

test('a bad body is refused with 400 and the choices; too large a body with 413; nothing reaches the session', async (t) => {
  const { base, session } = await consoleFor(t)
  const post = (path: string, body: string) => call(base, path, { method: 'POST', headers: { ...cli, ...json }, body })

  for (const [path, body, choices] of [
    ['/api/mode', '{"mode":"sideways"}', PROVIDER_MODES.join(', ')],
    ['/api/mode', '{}', PROVIDER_MODES.join(', ')],
    ['/api/mode', '{"mode":["ok"]}', PROVIDER_MODES.join(', ')],
    ['/api/traffic', '{"rps":-1}', `0 (stop) to ${MAX_TRAFFIC_RPS}`],
    ['/api/traffic', `{"rps":${MAX_TRAFFIC_RPS + 1}}`, `0 (stop) to ${MAX_TRAFFIC_RPS}`],
    ['/api/traffic', '{"rps":"5"}', `0 (stop) to ${MAX_TRAFFIC_RPS}`],
    ['/api/abort', '{"count":0}', `1 to ${MAX_ABORT_COUNT}`],
    ['/api/abort', '{"count":1.5}', `1 to ${MAX_ABORT_COUNT}`],
    ['/api/abort', `{"count":${MAX_ABORT_COUNT + 1}}`, `1 to ${MAX_ABORT_COUNT}`],
    ['/api/abort', '{}', `1 to ${MAX_ABORT_COUNT}`],
  ] as const) {
    const answer = await post(path, body)
    assert.equal(answer.status, 400, `${path} ${body}`)
    assert.ok((JSON.parse(answer.body) as { error: string }).error.includes(choices), `${path} ${body}: ${answer.body}`)
  }
  for (const body of ['{"mode":', 'mode=ok', '["ok"]', '"ok"', 'null']) {
    const answer = await post('/api/mode', body)
    assert.equal(answer.status, 400, body)
    assert.match(answer.body, /JSON/)
  }
  const large = JSON.stringify({ mode: 'ok', padding: 'x'.repeat(BODY_LIMIT_BYTES) })
  assert.equal((await post('/api/mode', large)).status, 413)
  // Without a length announced, the body is counted as it comes.
  const chunked = await call(base, '/api/mode', { method: 'POST', headers: { ...cli, ...json, 'transfer-encoding': 'chunked' }, body: large })
  assert.equal(chunked.status, 413)

  const unknown = await post('/api/launch', '{}')
  assert.equal(unknown.status, 404)
  assert.match(unknown.body, /fire, restart, expire, mode, traffic, abort/)
  for (const inherited of ['/api/toString', '/api/__proto__', '/api/constructor']) assert.equal((await post(inherited, '{}')).status, 404, inherited)
  const get = await call(base, '/api/fire', { headers: cli })
  assert.equal(get.status, 405)
  assert.equal(get.headers.allow, 'POST')
  assert.equal((await call(base, '/', { method: 'POST', headers: cli })).status, 405)
  assert.deepEqual(session.calls, [])
})

test('a session that throws answers 500 with its message, and the console goes on', async (t) => {
  const session = new FakeSession()
  session.fire = () => Promise.reject(new Error('the provider is not running'))
  const { base } = await consoleFor(t, session)
  const answer = await call(base, '/api/fire', { method: 'POST', headers: cli })
  assert.equal(answer.status, 500)
  assert.match(answer.body, /the provider is not running/)
  assert.equal((await call(base, '/api/restart', { method: 'POST', headers: cli })).status, 200)
})

test('/events sends the snapshot first, then every event as one data line, in order', async (t) => {
  const { base, session, port } = await consoleFor(t)
  session.pending(5000)
  const stream = await openEvents(base, { cookie: `gatekeep_console_${port}=${TOKEN}` })
  t.after(() => stream.close())
  assert.equal(stream.status, 200)
  const snapshot = await stream.next()
  assert.equal(snapshot.type, 'snapshot')
  assert.equal(snapshot.source, 'gatekeep')
  assert.equal(typeof snapshot.at, 'number')
  assert.deepEqual(snapshot.modes, PROVIDER_MODES)
  assert.equal((snapshot.services as { gate: { state: string } }[])[0]?.gate.state, 'awaiting-webhook')
  assert.equal((snapshot.recent as unknown[]).length, 4)

  session.requestTotals('service', { '503': 4 })
  session.deliverWebhook()
  session.emit({ type: 'something-new', source: 'gatekeep', detail: 'a\nb' })
  const types = []
  for (let index = 0; index < 6; index += 1) types.push((await stream.next()).type)
  assert.deepEqual(types, ['requests', 'webhook', 'webhook', 'handshake', 'gate', 'something-new'])
})

test('/events answers the CLI with its header, and unsubscribes a client that leaves', async (t) => {
  const { base, session } = await consoleFor(t)
  const stream = await openEvents(base, cli)
  assert.equal(stream.status, 200)
  assert.equal((await stream.next()).type, 'snapshot')
  assert.equal(session.listenerCount, 1)
  stream.close()
  await stream.ended
  for (let tries = 0; session.listenerCount > 0 && tries < 100; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(session.listenerCount, 0)
})

test('a client that stops reading is cut off rather than buffered for, and may come back to a fresh snapshot', async (t) => {
  const { base, session } = await consoleFor(t)
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const outgoing = request(new URL('/events', base), { agent: false, headers: cli }, resolve)
    outgoing.on('error', reject)
    outgoing.end()
    t.after(() => outgoing.destroy())
  })
  // Cut off by the console: that is what this test waits for.
  response.on('error', () => {})
  response.pause()
  // Far more than the socket's buffers hold, so that the backlog builds in the console.
  const padding = 'x'.repeat(64 * 1024)
  for (let index = 0; index < 400 && session.listenerCount > 0; index += 1) {
    session.emit({ type: 'something-new', source: 'gatekeep', padding })
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(session.listenerCount, 0)
  const again = await openEvents(base, cli)
  t.after(() => again.close())
  assert.equal((await again.next()).type, 'snapshot')
})

test('close() ends every open stream, so a tab left open never holds dev up', async () => {
  const session = new FakeSession()
  const running = await startConsole({ session, port: await freePort(), token: TOKEN })
  const streams = await Promise.all([openEvents(running.url, cli), openEvents(running.url, cli)])
  for (const stream of streams) assert.equal((await stream.next()).type, 'snapshot')
  await running.close()
  await Promise.all(streams.map((stream) => stream.ended))
  assert.equal(session.listenerCount, 0)
  await assert.rejects(call(running.url, '/'), /ECONNREFUSED/)
})
