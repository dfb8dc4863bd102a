import { request, type Dispatcher } from 'undici'

/** How long any one question to the target may take; a target slower than this is not answering. */
const QUESTION_TIMEOUT_MS = 5000

/** Nothing answered at the address: refused, unknown host, reset, or silent past the timeout. */
export class UnreachableError extends Error {}

export interface Answer {
  statusCode: number
  text: string
}

/** A GET whose whole answer is read; connection failures become `UnreachableError`. */
export async function ask(dispatcher: Dispatcher, url: string): Promise<Answer> {
  try {
    const response = await request(url, {
      dispatcher,
      headersTimeout: QUESTION_TIMEOUT_MS,
      bodyTimeout: QUESTION_TIMEOUT_MS,
    })
    return { statusCode: response.statusCode, text: await response.body.text() }
  } catch (error) {
    throw new UnreachableError(describeFailure(error), { cause: error })
  }
}

/** Parses an answer's JSON body; null when it is not JSON. */
export function jsonOf(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text)
  } catch {
    return null
  }
}

/** A short reason for a failed request: the system error code when there is one. */
export function describeFailure(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown }
  const cause = (error as { cause?: { code?: unknown } }).cause
  if (typeof cause?.code === 'string') return cause.code
  if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return code
  return typeof message === 'string' && message !== '' ? message : String(error)
}
