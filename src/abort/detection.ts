import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { DEV_ROUTES, METRICS, type AbortAnswer, type AbortsAnswer } from '../project/contract.js'
import { ask, jsonOf } from './http.js'

export type Source = 'service' | 'metrics'

const ABORTS_ROUTE = DEV_ROUTES.aborts
const ABORT_COUNTER = METRICS.clientAborts
const ABORT_COUNTER_SAMPLE = new RegExp(`^${ABORT_COUNTER}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'gm')
/** Ids per question: keeps each URL far below Node's 16 KiB header limit. */
const IDS_PER_QUESTION = 100
/** How long the service gets to finish recording aborts after the last hang-up. */
const SETTLE_TIMEOUT_MS = 2000
const SETTLE_POLL_MS = 20

/** The target's report of aborts is missing or unreadable. */
export class AbortReportError extends Error {}

/**
 * How this target reports aborts: per request through `/__gatekeep/aborts` (a service that
 * `gatekeep dev` runs), else as a total in `/metrics`. For `metrics`, also the counter's value now,
 * the baseline of the delta.
 */
export async function chooseSource(
  dispatcher: Dispatcher,
  baseUrl: string,
): Promise<{ source: 'service' } | { source: 'metrics'; baseline: number }> {
  const probe = await ask(dispatcher, `${baseUrl}${ABORTS_ROUTE}?ids=`)
  if (probe.statusCode === 200 && Array.isArray((jsonOf(probe) as Partial<AbortsAnswer> | null)?.results)) {
    return { source: 'service' }
  }
  const baseline = await readAbortCounter(dispatcher, baseUrl)
  if (baseline === null) {
    throw new AbortReportError(
      `${baseUrl} reports no aborts: ${ABORTS_ROUTE} answered ${probe.statusCode} and /metrics has no ${ABORT_COUNTER}`,
    )
  }
  return { source: 'metrics', baseline }
}

/** The sum of `gatekeep_client_aborts_total` over its label sets; null when it is not exposed. */
export function abortCounterIn(metricsText: string): number | null {
  const samples = [...metricsText.matchAll(ABORT_COUNTER_SAMPLE)]
  if (samples.length === 0) return null
  return samples.reduce((sum, [, value]) => sum + Number(value), 0)
}

async function readAbortCounter(dispatcher: Dispatcher, baseUrl: string): Promise<number | null> {
  const answer = await ask(dispatcher, `${baseUrl}/metrics`)
  return answer.statusCode === 200 ? abortCounterIn(answer.text) : null
}

async function askService(dispatcher: Dispatcher, baseUrl: string, ids: readonly string[]): Promise<AbortAnswer[]> {
  const answers: AbortAnswer[] = []
  for (let start = 0; start < ids.length; start += IDS_PER_QUESTION) {
    const batch = ids.slice(start, start + IDS_PER_QUESTION).map(encodeURIComponent).join(',')
    const answer = await ask(dispatcher, `${baseUrl}${ABORTS_ROUTE}?ids=${batch}`)
    const results = (jsonOf(answer) as Partial<AbortsAnswer> | null)?.results
    if (answer.statusCode !== 200 || !Array.isArray(results)) {
      throw new AbortReportError(`${ABORTS_ROUTE} answered ${answer.statusCode} without results`)
    }
    answers.push(...results)
  }
  return answers
}

function settled(answer: AbortAnswer | undefined): boolean {
  return answer !== undefined && answer.detected && answer.cancelled !== false
}

/**
 * The service's answers for `ids`. The service records an abort a moment after the socket
 * closes, and a cancellation once the provider call has unwound, so it is asked again, briefly,
 * until every aborted request is settled: detected and, if a call was in flight, cancelled.
 */
export async function serviceAnswers(
  dispatcher: Dispatcher,
  baseUrl: string,
  ids: readonly string[],
  abortedIds: ReadonlySet<string>,
): Promise<Map<string, AbortAnswer>> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    const answers = new Map((await askService(dispatcher, baseUrl, ids)).map((answer) => [answer.requestId, answer]))
    const done = [...abortedIds].every((id) => settled(answers.get(id)))
    if (done || performance.now() >= deadline) return answers
    await sleep(SETTLE_POLL_MS)
  }
}

/** How much the abort counter rose since `baseline`, waiting briefly for it to reach `expected`. */
export async function counterDelta(
  dispatcher: Dispatcher,
  baseUrl: string,
  baseline: number,
  expected: number,
): Promise<number> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    const delta = ((await readAbortCounter(dispatcher, baseUrl)) ?? baseline) - baseline
    if (delta >= expected || performance.now() >= deadline) return delta
    await sleep(SETTLE_POLL_MS)
  }
}
