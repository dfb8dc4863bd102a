import { colors } from '../ui.js'
import { DEV_ROUTES, METRICS, type AbortAnswer } from '../project/contract.js'
import type { Source } from './detection.js'
import type { Sent } from './send.js'

/** One request in the `--json` report. */
export interface ResultRow {
  requestId: string
  outcome: Sent['outcome']
  detected: boolean | null
  detectedAfterMs: number | null
  cancelled: boolean | null
}

/** Exactly the `--json` object of the contract. */
export interface AbortReport {
  /** The URL every request went to. */
  target: string
  source: Source
  total: number
  aborted: number
  detected: number
  /** Aborted requests whose downstream call was cancelled; null when the source cannot tell. */
  cancelled: number | null
  results: ResultRow[]
}

const round2 = (ms: number) => Math.round(ms * 100) / 100

export function reportFromService(target: string, sent: readonly Sent[], answers: Map<string, AbortAnswer>): AbortReport {
  const results = sent.map((request): ResultRow => {
    const answer = answers.get(request.requestId)
    const detectedAt = answer?.detectedAt ?? null
    return {
      requestId: request.requestId,
      outcome: request.outcome,
      detected: answer?.detected ?? false,
      detectedAfterMs: request.outcome === 'aborted' && detectedAt !== null ? round2(detectedAt - request.hungUpAt) : null,
      cancelled: answer?.cancelled ?? null,
    }
  })
  const aborted = results.filter((row) => row.outcome === 'aborted')
  return {
    target,
    source: 'service',
    total: results.length,
    aborted: aborted.length,
    detected: aborted.filter((row) => row.detected === true).length,
    cancelled: aborted.filter((row) => row.cancelled === true).length,
    results,
  }
}

/** `counterDelta` is how much the service's abort counter rose during the run. */
export function reportFromMetrics(target: string, sent: readonly Sent[], counterDelta: number): AbortReport {
  const results = sent.map(
    (request): ResultRow => ({
      requestId: request.requestId,
      outcome: request.outcome,
      detected: null,
      detectedAfterMs: null,
      cancelled: null,
    }),
  )
  const aborted = results.filter((row) => row.outcome === 'aborted').length
  return {
    target,
    source: 'metrics',
    total: results.length,
    aborted,
    // Other clients hanging up at the same time may raise the counter further; never claim more.
    detected: Math.min(counterDelta, aborted),
    cancelled: null,
    results,
  }
}

function requests(count: number): string {
  return count === 1 ? '1 request' : `${count} requests`
}

/** Why the run failed, one phrase per problem; empty when it passed. */
export function failures(report: AbortReport, sent: readonly Sent[], afterMs: number): string[] {
  const problems: string[] = []
  const errors = sent.filter((request) => request.outcome === 'error')
  const first = errors[0]
  if (first) problems.push(`${errors.length} of ${requests(report.total)} failed (${first.reason})`)
  if (report.aborted === 0) {
    const statuses = [...new Set(sent.flatMap((request) => (request.outcome === 'completed' ? [request.statusCode] : [])))]
    if (statuses.length > 0) {
      problems.push(
        `nothing was aborted: requests finished (answering ${statuses.join(', ')}) before the hang-up at ${afterMs} ms; ` +
          "check the path, or lower --after below the route's latency",
      )
    }
    return problems
  }
  if (report.detected < report.aborted) {
    problems.push(`${report.aborted - report.detected} of ${report.aborted} aborts went undetected`)
  }
  const running = report.results.filter((row) => row.outcome === 'aborted' && row.cancelled === false).length
  if (running > 0) {
    problems.push(running === 1 ? '1 aborted request left its downstream call running' : `${running} aborted requests left their downstream calls running`)
  }
  const falseAlarms = report.results.filter((row) => row.outcome === 'completed' && row.detected === true).length
  if (falseAlarms > 0) problems.push(`the service reported ${requests(falseAlarms)} as aborted that had completed`)
  return problems
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Sub-millisecond detail matters for small values only: `0.4`, `2.1`, `37`. */
export function formatMs(ms: number): string {
  return ms < 10 ? String(Math.round(ms * 10) / 10) : String(Math.round(ms))
}

export function summaryLine(report: AbortReport): string {
  const completed = report.results.filter((row) => row.outcome === 'completed').length
  const failed = report.results.filter((row) => row.outcome === 'error').length
  const extras = [
    completed > 0 ? `${completed} completed before the hang-up` : '',
    failed > 0 ? `${failed} failed` : '',
  ].filter(Boolean)
  const tail = extras.length > 0 ? `; ${extras.join(', ')}` : ''
  if (report.aborted === 0) return `no request was aborted${tail}`

  let line = `${report.detected}/${report.aborted} aborts detected`
  if (report.source === 'metrics') {
    line +=
      ` (from ${METRICS.clientAborts} in /metrics: this service has no ${DEV_ROUTES.aborts}, which only a service` +
      ' run by `gatekeep dev` answers, so no per-request timing or cancellation)'
    return line + tail
  }
  const latency = median(report.results.flatMap((row) => (row.detectedAfterMs === null ? [] : [row.detectedAfterMs])))
  if (latency !== null) line += ` (median ${formatMs(latency)} ms after hang-up)`
  const inFlight = report.results.filter((row) => row.outcome === 'aborted' && row.cancelled !== null).length
  line += inFlight > 0 ? `; downstream call cancelled in ${report.cancelled}/${inFlight}` : '; no downstream call was in flight'
  return line + tail
}

function yesNo(value: boolean | null): { text: string; paint: (text: string) => string } {
  if (value === null) return { text: '-', paint: colors.dim }
  return value ? { text: 'yes', paint: colors.green } : { text: 'no', paint: colors.red }
}

/** The per-request table: plain text padded first, then colored, so columns stay aligned. */
export function resultTable(report: AbortReport, sent: readonly Sent[]): string {
  const header = ['request id', 'outcome', 'detected', 'after hang-up', 'cancelled']
  const rows = report.results.map((row, index) => {
    const request = sent[index] as Sent
    const outcome =
      request.outcome === 'completed'
        ? { text: `completed (${request.statusCode})`, paint: colors.yellow }
        : request.outcome === 'error'
          ? { text: `error (${request.reason})`, paint: colors.red }
          : { text: 'aborted', paint: (text: string) => text }
    return [
      { text: row.requestId, paint: (text: string) => text },
      outcome,
      yesNo(row.detected),
      row.detectedAfterMs === null
        ? { text: '-', paint: colors.dim }
        : { text: `${formatMs(row.detectedAfterMs)} ms`, paint: (text: string) => text },
      yesNo(row.cancelled),
    ]
  })
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((cells) => (cells[column] as { text: string }).text.length)),
  )
  const last = header.length - 1
  const pad = (text: string, column: number) => (column === last ? text : text.padEnd(widths[column] as number))
  const headerLine = header.map(pad).join('  ')
  const lines = rows.map((cells) => cells.map(({ text, paint }, column) => paint(pad(text, column))).join('  '))
  return [colors.bold(headerLine), ...lines].join('\n')
}
