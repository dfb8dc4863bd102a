import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { events, startTarget, type RunningTarget } from './helpers/abort-target.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'

// Against a real service (GATEKEEP_DEV=1, so it answers /__gatekeep/aborts) and mock provider
// whose GET /data takes 700 ms: a hang-up at 200 ms lands while the provider call is in flight.

interface Report {
  target: string
  source: 'service' | 'metrics'
  total: number
  aborted: number
  detected: number
  cancelled: number | null
  results: Array<{
    requestId: string
    outcome: 'aborted' | 'completed' | 'error'
    detected: boolean | null
    detectedAfterMs: number | null
    cancelled: boolean | null
  }>
}

const cwd = repoRoot

/** The client-abort log lines the service wrote for these request ids. */
function abortLogsFor(target: RunningTarget, report: Report): Array<Record<string, unknown>> {
  const ids = new Set(report.results.map((row) => row.requestId))
  return events(target.serviceLogs, 'client-abort').filter((line) => ids.has(String(line.reqId)))
}

// One service and provider for every subtest (they run one after the other): starting them is
// most of the cost of a test here.
test('gatekeep simulate-abort against a service with /__gatekeep/aborts', { timeout: 120_000 }, async (t) => {
  const target = await startTarget(t)

  await t.test('10 concurrent aborts are all detected, and their provider calls cancelled', { timeout: 30_000 }, async () => {
    const before = await target.providerStats()
    const run = await runGatekeep(
      ['simulate-abort', '--url', target.serviceUrl, '--count', '10', '--concurrency', '10', '--json'],
      { cwd },
    )
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stderr, '')
    const report = JSON.parse(run.stdout) as Report
    assert.deepEqual([report.total, report.aborted, report.detected, report.cancelled], [10, 10, 10, 10])
    assert.ok(report.results.every((row) => row.outcome === 'aborted' && row.detected === true && row.cancelled === true))

    // The provider saw its caller hang up, once per request.
    const after = await target.providerStats()
    assert.equal(after.dataCalls - before.dataCalls, 10)
    assert.equal(after.dataCallsCancelled - before.dataCallsCancelled, 10)
    // The service logged each abort exactly once, under the request's own id.
    const logged = abortLogsFor(target, report).map((line) => String(line.reqId))
    assert.deepEqual(logged.sort(), report.results.map((row) => row.requestId).sort())
  })

  await t.test('the table has a row per request and the summary line', { timeout: 30_000 }, async () => {
    const run = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--count', '3'], { cwd })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^request id +outcome +detected +after hang-up +cancelled$/m)
    assert.equal(run.stdout.match(/^abort-\S+ +aborted +yes +[\d.]+ ms +yes$/gm)?.length, 3, run.stdout)
    assert.match(run.stdout, /^3\/3 aborts detected \(median [\d.]+ ms after hang-up\); downstream call cancelled in 3\/3$/m)
  })

  await t.test('--json prints exactly the contract object', { timeout: 30_000 }, async () => {
    const run = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--count', '3', '--json'], { cwd })
    assert.equal(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout) as Report
    assert.deepEqual(Object.keys(report).sort(), ['aborted', 'cancelled', 'detected', 'results', 'source', 'target', 'total'])
    assert.equal(report.target, `${target.serviceUrl}/v1/data`)
    assert.deepEqual(
      { source: report.source, total: report.total, aborted: report.aborted, detected: report.detected, cancelled: report.cancelled },
      { source: 'service', total: 3, aborted: 3, detected: 3, cancelled: 3 },
    )
    assert.equal(new Set(report.results.map((row) => row.requestId)).size, 3)
    for (const row of report.results) {
      assert.deepEqual(Object.keys(row).sort(), ['cancelled', 'detected', 'detectedAfterMs', 'outcome', 'requestId'])
      assert.match(row.requestId, /^[A-Za-z0-9._:-]{1,128}$/)
      assert.equal(row.outcome, 'aborted')
      assert.equal(row.detected, true)
      assert.equal(row.cancelled, true)
      assert.ok(typeof row.detectedAfterMs === 'number' && row.detectedAfterMs >= 0 && row.detectedAfterMs < 1000, String(row.detectedAfterMs))
    }
  })

  await t.test('POSTs: hung up mid-call they are detected; finished after their body was read they are not aborts', { timeout: 30_000 }, async () => {
    const body = JSON.stringify({ customer: 42, note: 'x'.repeat(2000) })

    const aborted = await runGatekeep(['simulate-abort', '--url', target.serviceUrl, '--body', body, '--count', '3', '--json'], { cwd })
    assert.equal(aborted.code, 0, aborted.stderr)
    const abortedReport = JSON.parse(aborted.stdout) as Report
    assert.deepEqual([abortedReport.aborted, abortedReport.detected, abortedReport.cancelled], [3, 3, 3])

    // The provider answers after 700 ms: hanging up at 1500 ms is too late, every POST completes.
    const logsBefore = events(target.serviceLogs, 'client-abort').length
    const completed = await runGatekeep(
      ['simulate-abort', '--url', target.serviceUrl, '--method', 'post', '--body', body, '--count', '3', '--after', '1500', '--json'],
      { cwd },
    )
    assert.equal(completed.code, 1)
    // With --json the error is JSON too, on stderr.
    assert.match((JSON.parse(completed.stderr) as { error: string }).error, /^nothing was aborted: requests finished \(answering 200\) before the hang-up at 1500 ms; .*lower --after/)
    const report = JSON.parse(completed.stdout) as Report
    assert.deepEqual([report.aborted, report.detected, report.cancelled], [0, 0, 0])
    for (const row of report.results) {
      assert.deepEqual(row, { requestId: row.requestId, outcome: 'completed', detected: false, detectedAfterMs: null, cancelled: null })
    }
    // The service saw no abort among the completed POSTs.
    assert.equal(abortLogsFor(target, abortedReport).length, 3)
    assert.equal(events(target.serviceLogs, 'client-abort').length, logsBefore)
  })

  await t.test('a request that finishes before the hang-up is reported completed, not as a detected abort', { timeout: 30_000 }, async () => {
    // /ping answers at once, long before a hang-up at 200 ms.
    const run = await runGatekeep(['simulate-abort', '/ping', '--url', target.serviceUrl, '--count', '2'], { cwd })
    assert.equal(run.code, 1)
    assert.match(run.stdout, /^abort-\S+ +completed \(200\) +no +- +-$/m)
    assert.match(run.stdout, /^no request was aborted; 2 completed before the hang-up$/m)
    assert.match(run.stderr, /^error: nothing was aborted: requests finished \(answering 200\) before the hang-up at 200 ms/m)
    assert.equal(run.stderr.trim().split('\n').length, 1)
  })

  await t.test('without --url, the target is the running gatekeep dev session of the project around the cwd', { timeout: 30_000 }, async (t) => {
    const project = tempDir(t)
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-service', gatekeep: { port: 3000 } }))
    mkdirSync(path.join(project, '.gatekeep'))
    const session = {
      // This test process stands in for the dev supervisor: alive for as long as the run.
      pid: process.pid,
      services: [{ url: target.serviceUrl, pid: target.servicePid }],
      provider: { url: target.providerUrl, pid: target.providerPid },
    }
    writeFileSync(path.join(project, '.gatekeep', 'dev.json'), JSON.stringify(session))
    const below = path.join(project, 'src', 'routes')
    mkdirSync(below, { recursive: true })

    const run = await runGatekeep(['simulate-abort', '--count', '2'], { cwd: below })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`^target ${target.serviceUrl}/v1/data \\(the running gatekeep dev session, from \\.gatekeep/dev\\.json\\)$`, 'm'))
    assert.match(run.stdout, /^2\/2 aborts detected/m)
  })
})
