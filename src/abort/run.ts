import { Agent } from 'undici'
import { UsageError, WorkError } from '../errors.js'
import { AbortReportError, chooseSource, counterDelta, serviceAnswers } from './detection.js'
import { UnreachableError } from './http.js'
import { waitUntilReady } from './readiness.js'
import { failures, reportFromMetrics, reportFromService, resultTable, summaryLine, type AbortReport } from './report.js'
import { requestIds, sendAll, type HttpMethod, type Plan } from './send.js'
import { resolveTarget } from './target.js'

export interface SimulateAbortOptions {
  /** Starts with `/`. */
  path: string
  url: string | undefined
  afterMs: number
  count: number
  concurrency: number
  method: HttpMethod
  body: string | undefined
  waitReadyMs: number
  json: boolean
  cwd: string
  /** Read for the project's port, as the service reads it. */
  env: Record<string, string | undefined>
}

/** Sends the requests, hangs up on them, asks the service what it saw, prints the report. */
export async function runSimulateAbort(options: SimulateAbortOptions): Promise<void> {
  const target = resolveTarget(options.url, options.cwd, options.env)
  const plan: Plan = {
    url: `${target.baseUrl}${options.path}`,
    method: options.method,
    body: options.body,
    concurrency: options.concurrency,
    afterMs: options.afterMs,
  }
  const say = (line: string) => {
    if (!options.json) process.stdout.write(`${line}\n`)
  }
  // One pool for every request of the run; its connections are closed before returning.
  const dispatcher = new Agent()
  try {
    say(`target ${plan.url}${target.reason === null ? '' : ` (${target.reason})`}`)
    await waitUntilReady(dispatcher, target.baseUrl, options.waitReadyMs, (reason) =>
      say(`waiting up to ${options.waitReadyMs} ms for it to be ready: ${reason}`),
    )
    const reporting = await chooseSource(dispatcher, target.baseUrl).catch((error: unknown) => {
      if (error instanceof AbortReportError) {
        throw new UsageError(`${error.message}: is it a gatekeep service? Check --url.`, { cause: error })
      }
      throw error
    })

    say(
      `${plan.method} x${options.count}, ${Math.min(plan.concurrency, options.count)} at a time, ` +
        `hanging up after ${plan.afterMs} ms\n`,
    )
    const ids = requestIds(options.count)
    const sent = await sendAll(dispatcher, plan, ids)
    const abortedIds = new Set(sent.filter((request) => request.outcome === 'aborted').map((request) => request.requestId))

    let report: AbortReport
    if (reporting.source === 'service') {
      const answers = await serviceAnswers(dispatcher, target.baseUrl, ids, abortedIds)
      report = reportFromService(plan.url, sent, answers)
    } else {
      const delta = await counterDelta(dispatcher, target.baseUrl, reporting.baseline, abortedIds.size)
      report = reportFromMetrics(plan.url, sent, delta)
    }

    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      say(resultTable(report, sent))
      say(`\n${summaryLine(report)}`)
    }
    const problems = failures(report, sent, plan.afterMs)
    if (problems.length > 0) throw new WorkError(`${problems.join('; ')}.`)
  } catch (error) {
    // Past the readiness check the target did answer: losing it now is the work failing.
    if (error instanceof UnreachableError || error instanceof AbortReportError) {
      throw new WorkError(`could not get ${target.baseUrl}'s account of the aborts: ${error.message}.`, { cause: error })
    }
    throw error
  } finally {
    await dispatcher.destroy()
  }
}
