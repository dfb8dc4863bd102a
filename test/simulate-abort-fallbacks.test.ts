import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { startTarget } from './helpers/abort-target.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'

const cwd = repoRoot

describe('gatekeep simulate-abort when the service cannot answer per request, or never opens', { concurrency: true }, () => {
  test('a service not run by gatekeep dev: aborts counted from /metrics, said so, null per request', { timeout: 60_000 }, async (t) => {
    const target = await startTarget(t)
    const json = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--count', '4', '--json'], { cwd })
    assert.equal(json.code, 0, json.stderr)
    const report = JSON.parse(json.stdout) as Record<string, unknown> & { results: Array<Record<string, unknown>> }
    assert.deepEqual(
      { source: report.source, total: report.total, aborted: report.aborted, detected: report.detected, cancelled: report.cancelled },
      { source: 'metrics', total: 4, aborted: 4, detected: 4, cancelled: null },
    )
    for (const row of report.results) {
      assert.deepEqual(row, { requestId: row.requestId, outcome: 'aborted', detected: null, detectedAfterMs: null, cancelled: null })
    }

    const text = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--count', '2'], { cwd })
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^2\/2 aborts detected \(from gatekeep_client_aborts_total in \/metrics: this service has no \/__gatekeep\/aborts, which only a service run by `gatekeep dev` answers/m)
    assert.match(text.stdout, /^abort-\S+ +aborted +- +- +-$/m)
  })

  test('a gate that never opens: exit 1 with the readiness reason, nothing sent', { timeout: 60_000 }, async (t) => {
    const target = await startTarget(t, { providerMode: 'never' })
    const started = performance.now()
    const run = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--wait-ready', '500'], { cwd })
    assert.equal(run.code, 1)
    assert.match(run.stderr, new RegExp(`^error: ${target.serviceUrl} did not become ready within 500 ms: gate-pending`))
    assert.equal(run.stderr.trim().split('\n').length, 1)
    assert.ok(performance.now() - started < 10_000, 'it waited about --wait-ready, not the default')
    assert.equal((await target.providerStats()).dataCalls, 0)
  })
})
