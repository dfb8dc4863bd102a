// `npm run bench`: the figures of DESIGN section 5, measured side by side in one run.
import { randomBytes } from 'node:crypto'
import { benchCli } from './cli.js'
import { benchDev } from './dev.js'
import { benchInstances, describeFanOut } from './instances.js'
import { compare, median, type Contender } from './http.js'
import { benchBreaker, benchProviderTimeout, benchShutdown } from './shutdown.js'

/** `npm run bench -- shutdown timeout` runs only the sections named; none named runs them all. */
const SECTIONS = ['throughput', 'cli', 'dev', 'instances', 'shutdown', 'timeout', 'breaker']
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !SECTIONS.includes(name))
if (unknown.length > 0) {
  process.stderr.write(`unknown bench section: ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}\n`)
  process.exit(2)
}
const runs = (section: string) => wanted.length === 0 || wanted.includes(section)

const SERVER = new URL('./server.ts', import.meta.url).pathname
const SERVICE = new URL('../templates/service/src/server.ts', import.meta.url).pathname

function variant(name: string, path = '/v1/data'): Contender {
  return { name, args: [SERVER], env: { BENCH_VARIANT: name }, path }
}

interface Row {
  what: string
  figure: string
  target: string
  met: boolean
}
const rows: Row[] = []
function report(row: Row): void {
  rows.push(row)
  process.stdout.write(`${row.met ? 'ok  ' : 'MISS'}  ${row.what}: ${row.figure} (target ${row.target})\n`)
}
/**
 * Throughput of `a` against `b`, run side by side, as one row; `p99` adds a's latency bound. The
 * ratio of the medians, then the spread of the rounds' own ratios: met only when every round
 * clears the target (DESIGN section 5).
 */
async function throughputRow(what: string, a: Contender, b: Contender, minRatio: number, maxP99Ms?: number) {
  const { a: measured, b: baseline, ratios } = await compare(a, b)
  const ratio = measured.requestsPerSecond / baseline.requestsPerSecond
  const lowest = Math.min(...ratios)
  const spread = `rounds ${lowest.toFixed(3)}-${Math.max(...ratios).toFixed(3)}`
  const throughput = `${ratio.toFixed(3)}, ${spread} (${measured.requestsPerSecond.toFixed(0)} vs ${baseline.requestsPerSecond.toFixed(0)} req/s)`
  report({
    what,
    figure: maxP99Ms === undefined ? throughput : `${throughput}, p99 ${measured.p99Ms} ms (bare ${baseline.p99Ms} ms)`,
    target: maxP99Ms === undefined ? `>= ${minRatio}` : `>= ${minRatio}, p99 <= ${maxP99Ms} ms`,
    met: lowest >= minRatio && (maxP99Ms === undefined || measured.p99Ms <= maxP99Ms),
  })
}

process.stdout.write('gatekeep benchmarks: medians of interleaved rounds; 2 cores, so read ratios, not absolutes\n\n')

if (runs('throughput')) {
  await throughputRow('open gate vs bare Fastify, same handler (the gate alone, RATE_LIMIT=off)', variant('gate-open'), variant('bare-ok'), 0.97)
  // The whole app with its security headers and rate limits on: the 503 carries helmet's headers.
  await throughputRow(
    'closed gate 503 (the whole app) vs bare route answering the same 503, security headers included',
    variant('app-closed'),
    variant('bare-503-headers'),
    0.97,
    2,
  )
  await throughputRow('closed gate 503 (the whole app, security headers) vs bare route answering the plain 503', variant('app-closed'), variant('bare-503'), 0.9)
  await throughputRow(
    'whole generated service (security headers, rate limits on) vs bare Fastify, /health/live, log level info',
    {
      name: 'service',
      args: [SERVICE],
      env: {
        WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
        PROVIDER_URL: 'http://127.0.0.1:9',
        LOG_LEVEL: 'info',
      },
      path: '/health/live',
    },
    variant('bare-live', '/health/live'),
    0.8,
  )
}
if (runs('cli')) {
  const { nodeMs, helpMs, initMs } = benchCli()
  report({
    what: '`gatekeep --help` vs `node -e 0`',
    figure: `${(helpMs / nodeMs).toFixed(2)}x (${helpMs.toFixed(1)} vs ${nodeMs.toFixed(1)} ms)`,
    target: '<= 1.4x',
    met: helpMs / nodeMs <= 1.4,
  })
  report({
    what: '`gatekeep init` (no install) vs `node -e 0`',
    figure: `${(initMs / nodeMs).toFixed(2)}x (${initMs.toFixed(1)} vs ${nodeMs.toFixed(1)} ms)`,
    target: '<= 1.8x',
    met: initMs / nodeMs <= 1.8,
  })
}

if (runs('dev')) {
  const { restartMs, startToOpenMs, delayMs } = await benchDev()
  const sorted = [...restartMs].sort((a, b) => a - b)
  report({
    what: `dev: a saved .ts file to the new code answering, ${sorted.length} saves`,
    figure: `median ${median(sorted).toFixed(0)} ms (min ${sorted[0]}, max ${sorted.at(-1)})`,
    target: 'median <= 300 ms',
    met: median(sorted) <= 300,
  })
  report({
    what: `dev: service listening to gate open, --delay ${delayMs}`,
    figure: `${startToOpenMs} ms`,
    target: `<= ${delayMs + 500} ms`,
    met: startToOpenMs <= delayMs + 500,
  })
}
if (runs('instances')) {
  for (const fanOut of await benchInstances()) {
    report({
      what: `${fanOut.instances} instance(s) sharing Redis: provider authorizations`,
      figure: `${fanOut.authorizations}; ${describeFanOut(fanOut)}`,
      target: 'exactly 1',
      met: fanOut.authorizations === 1,
    })
  }
}

if (runs('shutdown')) {
  const connections = 50
  const drainMs = 1000
  const rounds = await benchShutdown({ connections, drainMs })
  const percents = rounds.map((round) => (100 * round.resets.length) / round.sent)
  const sorted = [...percents].sort((a, b) => a - b)
  const unavailable = rounds.reduce((sum, round) => sum + (round.statuses[503] ?? 0), 0)
  const withoutRetryAfter = rounds.reduce((sum, round) => sum + round.unavailableWithoutRetryAfter, 0)
  const resetsRead = rounds.reduce((sum, round) => sum + round.resetsOfReadRequests, 0)
  const exits = [...new Set(rounds.map((round) => round.exitCode))].join(', ')
  report({
    what: `SIGTERM under keep-alive load (${connections} connections, drain ${drainMs} ms, ${rounds.length} rounds): resets / 503s without Retry-After`,
    figure:
      `median ${median(percents).toFixed(2)}% (min ${sorted[0]?.toFixed(2)}, max ${sorted.at(-1)?.toFixed(2)}; ` +
      `${rounds.map((round) => `${round.resets.length}/${round.sent}`).join(', ')} requests), ` +
      `${withoutRetryAfter} of ${unavailable} 503s without Retry-After; ${resetsRead} resets of requests the service read; exit ${exits}`,
    target: '<= 0.2% / 0, none read, exit 0',
    met: (sorted.at(-1) ?? Infinity) <= 0.2 && withoutRetryAfter === 0 && resetsRead === 0 && exits === '0',
  })
}

if (runs('timeout')) {
  const { timeoutMs, answeredMs, statuses } = await benchProviderTimeout({ timeoutMs: 2000 })
  const excess = answeredMs.map((ms) => ms - timeoutMs).sort((a, b) => a - b)
  report({
    what: `provider slower than PROVIDER_TIMEOUT_MS=${timeoutMs}: call to 504, ${answeredMs.length} calls`,
    figure: `median ${median(answeredMs).toFixed(0)} ms, ${median(excess).toFixed(1)} ms past the timeout (min ${excess[0]?.toFixed(1)}, max ${excess.at(-1)?.toFixed(1)}); statuses ${[...new Set(statuses)].join(', ')}`,
    target: '504 within 50 ms of the timeout',
    met: statuses.every((status) => status === 504) && (excess.at(-1) ?? Infinity) <= 50,
  })
}

if (runs('breaker')) {
  const { timeoutMs, tripping, open } = await benchBreaker()
  const openMs = open.map((call) => call.ms).sort((a, b) => a - b)
  const statuses = (calls: typeof open) => [...new Set(calls.map((call) => call.status))].join(', ')
  report({
    what: `provider failing (slow-data, PROVIDER_TIMEOUT_MS=${timeoutMs}): ${open.length} calls once ${tripping.length} timed-out calls opened the breaker`,
    figure: `median ${median(openMs).toFixed(1)} ms (max ${openMs.at(-1)?.toFixed(1)}), statuses ${statuses(open)}; before: median ${median(tripping.map((call) => call.ms)).toFixed(0)} ms, statuses ${statuses(tripping)}`,
    target: '503 within 10 ms',
    met: open.every((call) => call.status === 503) && (openMs.at(-1) ?? Infinity) <= 10,
  })
}

const missed = rows.filter((row) => !row.met).length
process.stdout.write(`\n${rows.length - missed}/${rows.length} targets met\n`)
