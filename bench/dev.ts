// `gatekeep dev` figures: a saved .ts file to the new code answering, and start to gate open.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { median } from './http.js'
import { fetchVersion, freePort, makeDevProject, saveVersionRoute, startDev } from '../test/helpers/dev.js'

export interface DevFigures {
  /** Each save to the new code answering, in ms, the 100 ms debounce included. */
  restartMs: number[]
  /** The service listening (as dev reports it) to its readiness answering 200, in ms. */
  startToOpenMs: number
  /** The `--delay` of that run. */
  delayMs: number
}

export interface DevBenchOptions {
  saves?: number
  delayMs?: number
  /** Between saves, as a person editing would: the next standby has warmed up by then. */
  pauseMs?: number
}

const POLL_MS = 5

async function poll<T>(read: () => Promise<T | null>, accept: (value: T) => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value !== null && accept(value)) return
    if (performance.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms`)
    await sleep(POLL_MS)
  }
}

export async function benchDev({ saves = 12, delayMs = 1000, pauseMs = 2000 }: DevBenchOptions = {}): Promise<DevFigures> {
  const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'gatekeep-bench-dev-')))
  const dev = { run: null as ReturnType<typeof startDev> | null }
  try {
    makeDevProject(root)
    saveVersionRoute(root, 0)
    const port = await freePort()
    const providerPort = await freePort()
    const baseUrl = `http://127.0.0.1:${port}`
    const run = startDev(['--delay', String(delayMs), '--restart-delay', '100', '--port', String(port), '--provider-port', String(providerPort)], root)
    dev.run = run

    await run.waitFor(/service listening on/, 30_000)
    const listeningAt = performance.now()
    const ready = async () => {
      try {
        return (await fetch(`${baseUrl}/health/ready`)).status
      } catch {
        return null
      }
    }
    await poll(ready, (status) => status === 200, delayMs + 10_000)
    const startToOpenMs = Math.round(performance.now() - listeningAt)
    await run.waitFor(/watching .* for changes/, 10_000)

    const restartMs: number[] = []
    for (let version = 1; version <= saves; version += 1) {
      await sleep(pauseMs)
      const savedAt = performance.now()
      saveVersionRoute(root, version)
      await poll(() => fetchVersion(baseUrl), (answered) => answered === version, 10_000)
      restartMs.push(Math.round(performance.now() - savedAt))
    }
    return { restartMs, startToOpenMs, delayMs }
  } finally {
    if (dev.run && dev.run.child.exitCode === null) {
      dev.run.child.kill('SIGINT')
      await dev.run.exited
    }
    rmSync(root, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchDev()
  const sorted = [...figures.restartMs].sort((a, b) => a - b)
  process.stdout.write(
    `dev restart, save to new code answering: median ${median(sorted).toFixed(0)} ms, min ${sorted[0]} ms, max ${sorted.at(-1)} ms ` +
      `over ${sorted.length} saves (target median <= 300 ms)\n  each: ${figures.restartMs.join(', ')} ms\n` +
      `dev start, service listening to gate open with --delay ${figures.delayMs}: ${figures.startToOpenMs} ms ` +
      `(target <= ${figures.delayMs + 500} ms)\n`,
  )
}
