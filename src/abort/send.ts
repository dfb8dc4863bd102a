import { randomBytes } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import type { DiagnosticsChannel, Dispatcher } from 'undici'
import { request } from 'undici'
import { epochNow } from './clock.js'
import { describeFailure } from './http.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface Plan {
  url: string
  method: HttpMethod
  /** A JSON document, sent as is. */
  body: string | undefined
  concurrency: number
  /** When to hang up, counted from the moment the request's headers are written to its socket. */
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

/** undici announces each request as its headers go out on a socket; the id says which one. */
const SEND_HEADERS_CHANNEL = 'undici:client:sendHeaders'
const REQUEST_ID_HEADER = /\r\nx-request-id: ([^\r]*)\r\n/i

/** Calls back when a request of this run is written to its socket, by request id. */
type SentListeners = Map<string, () => void>

/**
 * Sends one request and hangs up on it `afterMs` after it was sent, unless it finished first.
 * The clock starts on the socket, not at the call: a new connection takes a moment to open,
 * and a request hung up on before it left would never reach the service.
 */
async function sendAndHangUp(dispatcher: Dispatcher, plan: Plan, requestId: string, sentListeners: SentListeners): Promise<Sent> {
  const controller = new AbortController()
  let hangUp: NodeJS.Timeout | undefined
  let hungUpAt: number | null = null
  sentListeners.set(requestId, () => {
    hangUp = setTimeout(() => {
      hungUpAt = epochNow()
      controller.abort()
    }, plan.afterMs)
  })
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
    sentListeners.delete(requestId)
  }
}

/** Sends every request, at most `concurrency` at a time, in id order. */
export async function sendAll(dispatcher: Dispatcher, plan: Plan, ids: readonly string[]): Promise<Sent[]> {
  const sentListeners: SentListeners = new Map()
  const onSendHeaders = (message: unknown) => {
    const id = REQUEST_ID_HEADER.exec((message as DiagnosticsChannel.ClientSendHeadersMessage).headers)?.[1]
    if (id !== undefined) sentListeners.get(id)?.()
  }
  diagnosticsChannel.subscribe(SEND_HEADERS_CHANNEL, onSendHeaders)
  try {
    const results: Sent[] = new Array(ids.length)
    let next = 0
    const worker = async () => {
      while (next < ids.length) {
        const index = next++
        results[index] = await sendAndHangUp(dispatcher, plan, ids[index] as string, sentListeners)
      }
    }
    await Promise.all(Array.from({ length: Math.min(plan.concurrency, ids.length) }, worker))
    return results
  } finally {
    diagnosticsChannel.unsubscribe(SEND_HEADERS_CHANNEL, onSendHeaders)
  }
}
