import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { UsageError, WorkError } from '../errors.js'
import { ask, jsonOf, UnreachableError } from './http.js'

const POLL_INTERVAL_MS = 100

interface NotReady {
  status?: unknown
  reason?: unknown
  retryInMs?: unknown
  lastError?: unknown
}

/** The reason a 503 from `/health/ready` gives, as one phrase. */
function describeNotReady(body: unknown): string {
  const { reason, retryInMs, lastError } = (body ?? {}) as NotReady
  if (typeof reason !== 'string') return 'it answered 503 without a reason'
  const why = typeof lastError === 'string' ? `${reason}, last error ${lastError}` : reason
  return typeof retryInMs === 'number' ? `${why} (it expects to be ready in ${retryInMs} ms)` : why
}

/**
 * Waits until `GET /health/ready` answers 200, so the gate's instant 503 is never taken for an
 * abort. Nothing answering at the first try is a wrong target (UsageError); a target that stops
 * answering later is probably restarting, so it is asked again until the deadline.
 */
export async function waitUntilReady(
  dispatcher: Dispatcher,
  baseUrl: string,
  waitMs: number,
  onWaiting: (reason: string) => void,
): Promise<void> {
  const url = `${baseUrl}/health/ready`
  const deadline = performance.now() + waitMs
  let lastReason: string | null = null
  for (let attempt = 1; ; attempt += 1) {
    try {
      const answer = await ask(dispatcher, url)
      if (answer.statusCode === 200) return
      if (answer.statusCode !== 503) {
        throw new UsageError(
          `${url} answered ${answer.statusCode}, not 200 or 503: is ${baseUrl} a gatekeep service? Check --url.`,
        )
      }
      const reason = describeNotReady(jsonOf(answer))
      if (lastReason === null) onWaiting(reason)
      lastReason = reason
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error
      if (attempt === 1) {
        throw new UsageError(
          `nothing answers at ${baseUrl} (${error.message}): start it with \`npm run dev\` or point --url at it.`,
        )
      }
      lastReason = `it stopped answering (${error.message})`
    }
    if (performance.now() >= deadline) {
      throw new WorkError(`${baseUrl} did not become ready within ${waitMs} ms: ${lastReason}.`)
    }
    await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - performance.now())))
  }
}
