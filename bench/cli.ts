import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { median } from './http.js'

const BIN = new URL('../bin/gatekeep.js', import.meta.url).pathname

function wallMs(args: string[]): number {
  const started = process.hrtime.bigint()
  const { status } = spawnSync(process.execPath, args, { stdio: 'ignore' })
  if (status !== 0) throw new Error(`node ${args.join(' ')} exited ${status}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** Wall times of `gatekeep --help` and `gatekeep init` beside `node -e 0`, interleaved. */
export function benchCli(runs = 21) {
  const scratch = mkdtempSync(join(tmpdir(), 'gatekeep-bench-'))
  try {
    const baseline: number[] = []
    const help: number[] = []
    const init: number[] = []
    // One untimed run of each first: the file cache and (on Node 22+) the compile cache.
    wallMs(['-e', '0'])
    wallMs([BIN, '--help'])
    wallMs([BIN, 'init', join(scratch, 'warm'), '--yes'])
    for (let run = 0; run < runs; run += 1) {
      baseline.push(wallMs(['-e', '0']))
      help.push(wallMs([BIN, '--help']))
      init.push(wallMs([BIN, 'init', join(scratch, `project-${run}`), '--yes']))
    }
    return { nodeMs: median(baseline), helpMs: median(help), initMs: median(init) }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}
