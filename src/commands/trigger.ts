import { request } from 'node:http'
import type { Command } from 'commander'
import type { ActionResult } from '../console/types.js'
import { UsageError, WorkError } from '../errors.js'
import { parsePositiveInteger } from '../options.js'
import { devStatePath, isRunning, PROVIDER_MODES, readDevState } from '../project/contract.js'
import { locateProject } from '../project/root.js'

// The console's own bounds (src/console/server.ts), repeated here so that a bad value is refused
// before any session is looked for, and so that this command does not load the server.
const MAX_TRAFFIC_RPS = 1000
const MAX_ABORT_COUNT = 1000

const ACTIONS = ['fire', 'restart', 'expire', 'mode', 'traffic', 'abort'] as const
type ActionName = (typeof ACTIONS)[number]
const CHOICES = 'fire, restart, expire, mode <mode>, traffic <rps>, abort [--count n]'

/** A console that does not answer in this long is stuck; the action's own work is quicker. */
const ANSWER_TIMEOUT_MS = 30_000

const EXAMPLES = `
Actions:
  fire             the mock provider calls back now
  restart          restart the service
  expire           discard the key everywhere: every gate closes (key-expired), a new handshake runs
  mode <mode>      switch the mock provider's mode live: ${PROVIDER_MODES.join(', ')}
  traffic <rps>    send customer traffic (GET /v1/data) at this rate; 0 stops it
  abort            send requests and hang up on them mid-flight (--count n, default 1)

Examples:
  $ gatekeep trigger fire
  $ gatekeep trigger mode reject && gatekeep trigger expire
  $ gatekeep trigger traffic 5
  $ gatekeep trigger abort --count 10

Exit codes: 0 applied (one line says what changed); 1 the session could not apply it (it says why);
2 no gatekeep dev runs here, or a bad action or value.
`

/** What to POST where: the action's route and body. */
function actionRequest(action: string, value: string | undefined, count: number | undefined): { name: ActionName; body: Record<string, unknown> } {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action "${action}"; the actions are: ${CHOICES}.`)
  const name = action as ActionName
  if (count !== undefined && name !== 'abort') throw new UsageError('--count goes with abort only.')
  if (name === 'mode') {
    if (value === undefined || !(PROVIDER_MODES as readonly string[]).includes(value)) {
      throw new UsageError(`${value === undefined ? 'mode needs a mode' : `unknown mode "${value}"`}; the modes are: ${PROVIDER_MODES.join(', ')}.`)
    }
    return { name, body: { mode: value } }
  }
  if (name === 'traffic') {
    const rps = Number(value)
    if (value === undefined || !/^\d+(\.\d+)?$/.test(value) || rps > MAX_TRAFFIC_RPS) {
      throw new UsageError(`traffic needs a rate in requests per second, from 0 (stop) to ${MAX_TRAFFIC_RPS}.`)
    }
    return { name, body: { rps } }
  }
  if (value !== undefined) throw new UsageError(`${name} takes no value (got "${value}"); the actions are: ${CHOICES}.`)
  if (name === 'abort') {
    if (count !== undefined && count > MAX_ABORT_COUNT) throw new UsageError(`--count is at most ${MAX_ABORT_COUNT}.`)
    return { name, body: { count: count ?? 1 } }
  }
  return { name, body: {} }
}

const NO_SESSION = 'no `gatekeep dev` runs here'

/** The running session's console, from the project's dev.json. */
function findConsole(cwd: string): { url: string; token: string } {
  const project = locateProject(cwd)
  if (project === null) throw new UsageError(`${NO_SESSION} (no gatekeep project in ${cwd} or above it).`)
  const file = devStatePath(project.root)
  const state = readDevState(file)
  // A file left by a dev that was killed outright names a dead pid.
  if (state === null || !isRunning(state.pid)) throw new UsageError(`${NO_SESSION} (start one with \`gatekeep dev\`).`)
  if (state.console === undefined) throw new UsageError(`${NO_SESSION} with a console: the session (pid ${state.pid}) was started with --no-console.`)
  return state.console
}

interface Answer {
  status: number
  body: string
}

/**
 * POSTs with node:http rather than fetch: the console takes a request without Origin as the
 * CLI's, and here nothing adds one.
 */
function post(url: URL, token: string, body: Record<string, unknown>): Promise<Answer> {
  const text = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-gatekeep-token': token },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        response.on('error', reject)
      },
    )
    outgoing.setTimeout(ANSWER_TIMEOUT_MS, () => outgoing.destroy(new Error(`no answer in ${ANSWER_TIMEOUT_MS / 1000} s`)))
    outgoing.on('error', reject)
    outgoing.end(text)
  })
}

function parseAnswer(answer: Answer): { error?: string } & Partial<ActionResult> {
  try {
    const parsed: unknown = JSON.parse(answer.body)
    if (typeof parsed === 'object' && parsed !== null) return parsed as { error?: string } & Partial<ActionResult>
  } catch {
    // Not the console's JSON: told below by its status alone.
  }
  return {}
}

async function trigger(action: string, value: string | undefined, count: number | undefined, cwd: string): Promise<string> {
  const { name, body } = actionRequest(action, value, count)
  const target = findConsole(cwd)
  const url = new URL(`api/${name}`, target.url)
  let answer: Answer
  try {
    answer = await post(url, target.token, body)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // The session is ending, or died between writing dev.json and now.
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET') throw new UsageError(`${NO_SESSION} (its console at ${target.url} does not answer).`)
    throw new WorkError(`${name} was not applied: the console at ${target.url} failed: ${(error as Error).message}`)
  }
  const result = parseAnswer(answer)
  if (answer.status === 200 && result.applied === true && typeof result.changed === 'string') return result.changed
  if (answer.status === 409 && result.applied === false) throw new WorkError(`${name} was not applied: ${result.reason}`)
  if (answer.status === 400) throw new UsageError(`${name}: ${result.error ?? 'the console refused the request'}.`)
  throw new WorkError(`${name} was not applied: the console answered ${answer.status}${result.error === undefined ? '' : `: ${result.error}`}`)
}

export function registerTrigger(program: Command): void {
  program
    .command('trigger')
    .description("drive the project's running `gatekeep dev` session, as its console's buttons do")
    .argument('<action>', `what to do: ${CHOICES}`)
    .argument('[value]', 'the mode for `mode`, the rate for `traffic`')
    .option('--count <n>', `how many aborted requests \`abort\` sends (1 to ${MAX_ABORT_COUNT}; default 1)`, parsePositiveInteger)
    .addHelpText('after', EXAMPLES)
    .action(async (action: string, value: string | undefined, flags: { count?: number }) => {
      process.stdout.write(`${await trigger(action, value, flags.count, process.cwd())}\n`)
    })
}
