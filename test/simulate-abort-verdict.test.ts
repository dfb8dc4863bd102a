import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { TestContext } from 'node:test'
import { describe, test } from 'node:test'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'

// A stand-in service whose answers are chosen by the test, to check the verdict when a real
// service would misbehave: an abort it never saw, a provider call it never cancelled.

interface StubAnswer {
  detected: boolean
  cancelled: boolean | null
}

async function startStub(t: TestContext, answer: StubAnswer): Promise<string> {
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://stub')
    if (url.pathname === '/health/ready') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}')
    } else if (url.pathname === '/__gatekeep/aborts') {
      const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean)
      const results = ids.map((requestId) => ({
        requestId,
        detected: answer.detected,
        detectedAt: answer.detected ? performance.timeOrigin + performance.now() : null,
        cancelled: answer.detected ? answer.cancelled : null,
      }))
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }))
    }
    // Every other route never answers: the client hangs up on it.
  })
  t.after(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return `http://127.0.0.1:${port}`
}

const cwd = repoRoot

describe('gatekeep simulate-abort fails (exit 1) when the service falls short', { concurrency: true }, () => {
  test('an abort the service never saw', { timeout: 20_000 }, async (t) => {
    const url = await startStub(t, { detected: false, cancelled: null })
    const run = await runGatekeep(['simulate-abort', '--url', url, '--count', '2', '--after', '50'], { cwd })
    assert.equal(run.code, 1)
    assert.match(run.stdout, /^0\/2 aborts detected; no downstream call was in flight$/m)
    assert.equal(run.stderr, 'error: 2 of 2 aborts went undetected.\n')
  })

  test('a downstream call left running: it asks again for a moment, then says so', { timeout: 20_000 }, async (t) => {
    const url = await startStub(t, { detected: true, cancelled: false })
    const run = await runGatekeep(['simulate-abort', '--url', url, '--after', '50', '--json'], { cwd })
    assert.equal(run.code, 1)
    const report = JSON.parse(run.stdout) as { detected: number; cancelled: number }
    assert.deepEqual([report.detected, report.cancelled], [1, 0])
    // With --json the error is JSON too, on stderr beside the report on stdout.
    assert.equal(run.stderr, '{"error":"1 aborted request left its downstream call running."}\n')
  })
})
