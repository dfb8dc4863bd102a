// dev's customer traffic against real HTTP servers on loopback: round-robin, never retried, and
// told one line per change of outcome.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { test, type TestContext } from 'node:test'
import { CUSTOMER_PATH, Traffic } from '../src/dev/traffic.js'
import { freePort } from './helpers/ports.js'

/** A customer route that answers `answer()` and records the paths it is asked for. */
async function customer(t: TestContext, answer: () => { status: number; headers?: Record<string, string> }) {
  const paths: string[] = []
  const server: Server = createServer((request, response) => {
    paths.push(request.url ?? '')
    const { status, headers = {} } = answer()
    response.writeHead(status, headers).end('{}')
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${port}`, paths }
}

/** Resolves once `check` holds; fails after `timeoutMs`, saying `what`. */
async function until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('503s with their Retry-After, then 200s: one line per change, round-robin over the instances', async (t) => {
  let open = false
  const answer = () => (open ? { status: 200 } : { status: 503, headers: { 'retry-after': '3' } })
  const first = await customer(t, answer)
  const second = await customer(t, answer)
  const lines: string[] = []
  const traffic = new Traffic({ targets: () => [first.url, second.url], tell: (line) => lines.push(line) })
  t.after(() => traffic.close())
  traffic.setRate(20)
  assert.equal(traffic.rps, 20)
  await until(() => lines.length >= 1, 'the first line')
  assert.match(lines[0] as string, /^customers: 503 ×\d+\/s \(Retry-After 3 s\)$/)
  open = true
  await until(() => lines.some((line) => /^customers: 200 ×\d+\/s$/.test(line)), 'the 200s told')
  // Unchanged outcomes are not told again; the change may show one mixed second between.
  assert.ok(lines.length <= 3, lines.join('\n'))
  traffic.setRate(0)
  assert.equal(lines.at(-1), 'customers: traffic stopped')
  assert.ok(first.paths.length > 0 && second.paths.length > 0, 'both instances asked')
  assert.ok(Math.abs(first.paths.length - second.paths.length) <= 1, `${first.paths.length} vs ${second.paths.length}`)
  assert.ok([...first.paths, ...second.paths].every((path) => path === CUSTOMER_PATH))
})

test('an instance that does not answer is counted as no answer, not retried', async (t) => {
  const lines: string[] = []
  const nobody = `http://127.0.0.1:${await freePort()}`
  const traffic = new Traffic({ targets: () => [nobody], tell: (line) => lines.push(line) })
  t.after(() => traffic.close())
  traffic.setRate(10)
  await until(() => lines.length >= 1, 'the first line')
  assert.match(lines[0] as string, /^customers: no answer ×\d+\/s$/)
})

test('at rate 0 nothing is sent and nothing told', async (t) => {
  const target = await customer(t, () => ({ status: 200 }))
  const lines: string[] = []
  const traffic = new Traffic({ targets: () => [target.url], tell: (line) => lines.push(line) })
  t.after(() => traffic.close())
  traffic.setRate(0)
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.deepEqual(target.paths, [])
  assert.deepEqual(lines, [])
})
