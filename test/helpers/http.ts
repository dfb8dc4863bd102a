import { setTimeout as sleep } from 'node:timers/promises'
import type { Spawned } from './spawn.js'

/**
 * Polls `url` until it answers with a status `accept` takes; resolves with that response.
 * Rejects, with what `running` wrote, once it has exited or after `timeoutMs`.
 */
export async function waitForResponse(
  url: string,
  running: Spawned,
  { accept = () => true, timeoutMs = 30_000 }: { accept?: (status: number) => boolean; timeoutMs?: number } = {},
): Promise<Response> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response = await fetch(url).catch(() => null)
    if (response && accept(response.status)) return response
    await response?.body?.cancel()
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`it exited before ${url} answered:\n${running.output()}`)
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${running.output()}`)
    await sleep(100)
  }
}
