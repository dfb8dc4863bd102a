import { InvalidArgumentError, type Command } from 'commander'
import { UsageError } from '../errors.js'
import { parseNonNegativeInteger, parsePositiveInteger } from '../options.js'
import type { HttpMethod } from '../abort/send.js'

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
const DEFAULT_PATH = '/v1/data'

const EXAMPLES = `
Examples:
  $ gatekeep simulate-abort                          one GET /v1/data to the running gatekeep dev session
  $ gatekeep simulate-abort --count 20 --concurrency 20
  $ gatekeep simulate-abort --body '{"q":1}'         a POST (--body implies it) whose body is read, then hung up on
  $ gatekeep simulate-abort /v1/data --url http://127.0.0.1:8080 --after 50 --json

Exit codes: 0 every aborted request was detected (and its downstream call cancelled);
1 an abort went undetected, nothing was aborted, or the target never became ready;
2 a bad flag or an unreachable target.
`

interface SimulateAbortFlags {
  url?: string
  after: number
  count: number
  concurrency?: number
  method?: HttpMethod
  body?: string
  waitReady: number
  json?: boolean
}

function parseBaseUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:3000.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:3000.')
  }
  if (url.search || url.hash) throw new InvalidArgumentError('expected a base URL without ? or #; put the path in [path].')
  return value
}

function parseMethod(value: string): HttpMethod {
  const method = value.toUpperCase()
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new InvalidArgumentError(`expected one of: ${METHODS.join(', ')}.`)
  }
  return method as HttpMethod
}

function parseJsonBody(value: string): string {
  try {
    JSON.parse(value)
  } catch (error) {
    throw new InvalidArgumentError(`expected JSON: ${(error as Error).message}.`)
  }
  return value
}

function parsePath(value: string): string {
  if (!value.startsWith('/')) throw new InvalidArgumentError(`expected a path starting with "/", such as ${DEFAULT_PATH}.`)
  return value
}

export function registerSimulateAbort(program: Command): void {
  program
    .command('simulate-abort')
    .description('send requests, hang up on them mid-flight, and report whether the service noticed and cancelled its downstream call')
    .argument('[path]', `route to call (default: "${DEFAULT_PATH}")`, parsePath)
    .option('--url <base>', "service to call (default: the running gatekeep dev session, else the project's port, else http://127.0.0.1:3000)", parseBaseUrl)
    .option('--after <ms>', 'hang up this long after sending each request', parseNonNegativeInteger, 200)
    .option('--count <n>', 'how many requests to send', parsePositiveInteger, 1)
    .option('--concurrency <n>', 'how many requests in flight at once (default: --count)', parsePositiveInteger)
    .option('--method <method>', `HTTP method: ${METHODS.join(', ')} (default: GET, or POST with --body)`, parseMethod)
    .option('--body <json>', 'JSON body to send', parseJsonBody)
    .option('--wait-ready <ms>', 'wait this long for /health/ready to answer 200 first (0: check once)', parseNonNegativeInteger, 10_000)
    .option('--json', 'print the report as one JSON object')
    .addHelpText('after', EXAMPLES)
    .action(async (path: string | undefined, flags: SimulateAbortFlags) => {
      const method = flags.method ?? (flags.body === undefined ? 'GET' : 'POST')
      if (flags.body !== undefined && method === 'GET') {
        throw new UsageError('--body cannot be sent with GET; drop --method GET (--body implies POST) or choose POST, PUT, PATCH or DELETE.')
      }
      const { runSimulateAbort } = await import('../abort/run.js')
      await runSimulateAbort({
        path: path ?? DEFAULT_PATH,
        url: flags.url,
        afterMs: flags.after,
        count: flags.count,
        concurrency: flags.concurrency ?? flags.count,
        method,
        body: flags.body,
        waitReadyMs: flags.waitReady,
        json: Boolean(flags.json),
        cwd: process.cwd(),
        env: process.env,
      })
    })
}
