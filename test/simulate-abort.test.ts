import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { abortCounterIn } from '../src/abort/detection.js'
import { PROVIDER_ROUTES } from '../src/project/contract.js'
import { startDevSession } from './helpers/dev.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'

// Against a real `gatekeep dev` session (whose runner adds /__gatekeep/aborts to the service) and
// its mock provider, whose GET /data takes 700 ms: a hang-up at 200 ms lands while the provider
// call is in flight.

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

interface ProviderStats {
  dataCalls: number
  dataCallsCancelled: number
}

// One dev session for every subtest (they run one after the other): starting it is most of the
// cost of a test here.
test('gatekeep simulate-abort against a gatekeep dev session', { timeout: 120_000 }, async (t) => {
  const dev = await startDevSession(t, { args: ['--delay', '100', '--no-watch'] })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  const target = {
    serviceUrl: dev.baseUrl,
    providerStats: async () => (await (await fetch(`${dev.providerUrl}${PROVIDER_ROUTES.stats}`)).json()) as ProviderStats,
    /** The service's own count of the aborts it saw. */
    abortsCounted: async () => abortCounterIn(await (await fetch(`${dev.baseUrl}/metrics`)).text()) ?? 0,
  }

  await t.test('10 concurrent aborts are all detected, and their provider calls cancelled', { timeout: 30_000 }, async () => {
    const before = await target.providerStats()
    const countedBefore = await target.abortsCounted()
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
    // The service counted each abort exactly once.
    assert.equal((await target.abortsCounted()) - countedBefore, 10)
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
    const countedBefore = await target.abortsCounted()
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
    assert.equal(await target.abortsCounted(), countedBefore)
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

  await t.test('without --url, the target is the running gatekeep dev session of the project around the cwd', { timeout: 30_000 }, async () => {
    const run = await runGatekeep(['simulate-abort', '--count', '2'], { cwd: path.join(dev.root, 'src', 'routes') })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`^target ${dev.baseUrl}/v1/data \\(the running gatekeep dev session, from \\.gatekeep/dev\\.json\\)$`, 'm'))
    assert.match(run.stdout, /^2\/2 aborts detected/m)
  })
})
