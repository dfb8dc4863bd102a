import { randomBytes } from 'node:crypto'
import type { Dispatcher } from 'undici'
import { request } from 'undici'
import { epochNow } from './clock.js'
import { describeFailure } from './http.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface Plan {
  url: string
  method: HttpMethod
  /** A JSON document, sent as is. */
  body: string | undefined
  count: number
  concurrency: number
  /** When to hang up, counted from handing the request to the connection pool. */
  afterMs: number
}

/** What the client saw of one request. */
export type Sent =
  | { requestId: string; outcome: 'aborted'; hungUpAt: number }
  | { requestId: string; outcome: 'completed'; statusCode: number }
  | { requestId: string; outcome: 'error'; reason: string }

/** Ids unique to this run, so the service's answers can never mix two runs up. */
export function requestIds(count: number): string[] {
  const run = randomBytes(4).toString('hex')
  const width = String(count).length
  return Array.from({ length: count }, (_, index) => `abort-${run}-${String(index + 1).padStart(width, '0')}`)
}

/** Sends one request and hangs up on it after `afterMs` unless it has finished by then. */
async function sendAndHangUp(dispatcher: Dispatcher, plan: Plan, requestId: string): Promise<Sent> {
  const controller = new AbortController()
  let hungUpAt: number | null = null
  const hangUp = setTimeout(() => {
    hungUpAt = epochNow()
    controller.abort()
  }, plan.afterMs)
  try {
    const response = await request(plan.url, {
      dispatcher,
      method: plan.method,
      headers: {
        'x-request-id': requestId,
        ...(plan.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: plan.body,
      signal: controller.signal,
    })
    // A response counts as completed only once its last byte arrived before the hang-up.
    await response.body.text()
    return { requestId, outcome: 'completed', statusCode: response.statusCode }
  } catch (error) {
    if (hungUpAt !== null) return { requestId, outcome: 'aborted', hungUpAt }
    return { requestId, outcome: 'error', reason: describeFailure(error) }
  } finally {
    clearTimeout(hangUp)
  }
}

/** Sends every request, at most `concurrency` at a time, in id order. */
export async function sendAll(dispatcher: Dispatcher, plan: Plan, ids: readonly string[]): Promise<Sent[]> {
  const results: Sent[] = new Array(ids.length)
  let next = 0
  const worker = async () => {
    while (next < ids.length) {
      const index = next++
      results[index] = await sendAndHangUp(dispatcher, plan, ids[index] as string)
    }
  }
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, ids.length) }, worker))
  return results
}
