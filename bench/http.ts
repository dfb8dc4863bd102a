import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { freePort } from '../test/helpers/dev.js'

export interface Load {
  requestsPerSecond: number
  p99Ms: number
}

export interface Contender {
  name: string
  /** Arguments after `node --import tsx`. */
  args: string[]
  env: Record<string, string>
  path: string
}

const TSX = import.meta.resolve('tsx')


// Servers on one core, the load generator (this process) on the other: otherwise where the
// scheduler happens to put each process swings a run by ±20% on this 2-core machine.
const SERVER_CORE = '1'
const LOAD_CORE = '0'

async function start(contender: Contender): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort()
  const child = spawn('taskset', ['-c', SERVER_CORE, process.execPath, '--import', TSX, ...contender.args], {
    env: { PATH: process.env.PATH, ...contender.env, PORT: String(port) },
    // Logs go to /dev/null for every contender alike.
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}${contender.path}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${contender.name} exited with ${child.exitCode}`)
    const reachable = await fetch(url).then(
      () => true,
      () => false,
    )
    if (reachable) return { child, url }
    if (Date.now() > deadline) throw new Error(`${contender.name} did not start`)
    await sleep(50)
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGKILL')
  await once(child, 'exit')
}

async function load(url: string, durationS: number): Promise<Load> {
  const result = await autocannon({ url, connections: 20, duration: durationS })
  return { requestsPerSecond: result.requests.average, p99Ms: result.latency.p99 }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * Loads two servers in alternating rounds, each round with a fresh pair of processes (one
 * process's JIT and memory layout can be luckier than another's, by as much as the effect
 * measured), so that the machine's noise falls on both alike; returns the medians.
 */
export async function compare(a: Contender, b: Contender, { rounds = 7, durationS = 2 } = {}) {
  spawnSync('taskset', ['-cp', LOAD_CORE, String(process.pid)], { stdio: 'ignore' })
  const results: [Load[], Load[]] = [[], []]
  for (let round = 0; round < rounds; round += 1) {
    const servers = [await start(a), await start(b)]
    try {
      for (const { url } of servers) await load(url, 1) // warm up: JIT, connection pools
      // Alternate who goes first, so neither always runs on a machine the other just heated.
      const order = round % 2 === 0 ? [0, 1] : [1, 0]
      for (const index of order) results[index as 0 | 1].push(await load(servers[index]!.url, durationS))
    } finally {
      await Promise.all(servers.map(({ child }) => stop(child)))
    }
  }
  const summary = (loads: Load[]) => ({
    requestsPerSecond: median(loads.map((entry) => entry.requestsPerSecond)),
    p99Ms: median(loads.map((entry) => entry.p99Ms)),
  })
  // Each round's own ratio, its two loads run back to back: the spread the figure is judged by.
  const ratios = results[0].map((load, round) => load.requestsPerSecond / results[1][round]!.requestsPerSecond)
  return { a: summary(results[0]), b: summary(results[1]), ratios }
}
