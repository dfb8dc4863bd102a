import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, LogCapture, waitFor } from './helper.js'

/** pino's numeric levels. */
const DEBUG = 20
const INFO = 30

function linesOf(logs: LogCapture, reqId: string): Array<Record<string, unknown>> {
  return logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.reqId === reqId)
}

test('a request is logged once, when it completes, with method, url, status and time', { timeout: 5000 }, async (t) => {
  const logs = new LogCapture()
  const server = await build(t, { logs })
  const requests = [
    { reqId: 'refused-1', method: 'GET' as const, url: '/v1/data', statusCode: 503 },
    { reqId: 'ping-1', method: 'GET' as const, url: '/ping?x=1', statusCode: 200 },
    { reqId: 'lost-1', method: 'GET' as const, url: '/nowhere', statusCode: 404 },
    { reqId: 'unsigned-1', method: 'POST' as const, url: '/webhook', statusCode: 401 },
  ]
  for (const { reqId, method, url, statusCode } of requests) {
    assert.equal((await server.inject({ method, url, headers: { 'x-request-id': reqId } })).statusCode, statusCode)
    const [line, ...more] = await waitFor(() => {
      const lines = linesOf(logs, reqId)
      return lines.length > 0 ? lines : null
    }, { what: `the log line of ${url}` })
    assert.deepEqual(more, [], `one line for ${url}`)
    assert.equal(line?.level, INFO)
    assert.equal(line?.msg, 'request completed')
    assert.equal(line?.method, method)
    assert.equal(line?.url, url)
    assert.equal(line?.statusCode, statusCode)
    assert.equal(typeof line?.responseTime, 'number')
  }
})

test('health probes and metrics scrapes are logged at debug, never at info', { timeout: 5000 }, async (t) => {
  const logs = new LogCapture()
  const server = await build(t, { logs })
  for (const url of ['/health/live', '/health/ready', '/metrics']) {
    const reqId = `probe${url.replaceAll('/', '-')}`
    await server.inject({ url, headers: { 'x-request-id': reqId } })
    const lines = await waitFor(() => {
      const found = linesOf(logs, reqId)
      return found.length > 0 ? found : null
    }, { what: `the log line of ${url}` })
    assert.deepEqual(
      lines.map((line) => [line.level, line.msg]),
      [[DEBUG, 'request completed']],
      url,
    )
  }
  assert.ok(!logs.lines.some((line) => JSON.parse(line).level >= INFO && /^\/(health|metrics)/.test(JSON.parse(line).url ?? '')))
})
