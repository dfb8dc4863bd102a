// `npm run bench`: the figures of DESIGN section 5, measured side by side in one run.
import { randomBytes } from 'node:crypto'
import { benchCli } from './cli.js'
import { benchDev } from './dev.js'
import { benchInstances, describeFanOut } from './instances.js'
import { compare, median, type Contender } from './http.js'

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
/** Throughput of `a` against `b`, run side by side, as one row; `p99` adds a's latency bound. */
async function throughputRow(what: string, a: Contender, b: Contender, minRatio: number, maxP99Ms?: number) {
  const { a: measured, b: baseline } = await compare(a, b)
  const ratio = measured.requestsPerSecond / baseline.requestsPerSecond
  const throughput = `${ratio.toFixed(3)} (${measured.requestsPerSecond.toFixed(0)} vs ${baseline.requestsPerSecond.toFixed(0)} req/s)`
  report({
    what,
    figure: maxP99Ms === undefined ? throughput : `${throughput}, p99 ${measured.p99Ms} ms (bare ${baseline.p99Ms} ms)`,
    target: maxP99Ms === undefined ? `>= ${minRatio}` : `>= ${minRatio}, p99 <= ${maxP99Ms} ms`,
    met: ratio >= minRatio && (maxP99Ms === undefined || measured.p99Ms <= maxP99Ms),
  })
}

process.stdout.write('gatekeep benchmarks: medians of interleaved rounds; 2 cores, so read ratios, not absolutes\n\n')

await throughputRow('open gate vs bare Fastify, same handler', variant('gate-open'), variant('bare-ok'), 0.97)
await throughputRow('closed gate 503 vs bare route answering the same 503', variant('gate-closed'), variant('bare-503'), 0.97, 2)
await throughputRow(
  'whole generated service vs bare Fastify, /health/live, log level info',
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
{
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

{
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
for (const fanOut of await benchInstances()) {
  report({
    what: `${fanOut.instances} instance(s) sharing Redis: provider authorizations`,
    figure: `${fanOut.authorizations}; ${describeFanOut(fanOut)}`,
    target: 'exactly 1',
    met: fanOut.authorizations === 1,
  })
}

const missed = rows.filter((row) => !row.met).length
process.stdout.write(`\n${rows.length - missed}/${rows.length} targets met\n`)
