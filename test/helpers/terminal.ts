import { spawnSync } from 'node:child_process'
import { startGatekeep } from './gatekeep.js'

/**
 * util-linux `script` gives the CLI a real pseudo-terminal (spawnCaptured's `terminal`). Every
 * Linux has it (CI runs on Linux), so there a missing `script` fails these tests rather than
 * skipping them; only other systems skip them.
 */
export const terminalAvailable = process.platform === 'linux'
if (terminalAvailable && spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) {
  throw new Error('the terminal tests need util-linux `script` (Debian: bsdutils)')
}

export interface Exchange {
  /** Wait until the screen shows this (after the previous answer)... */
  waitFor: RegExp
  /** ...then type this. */
  send: string
}

/** Runs gatekeep on a pseudo-terminal to its end, typing each answer once its question is on screen. */
export async function runInTerminal(
  args: readonly string[],
  cwd: string,
  exchanges: readonly Exchange[],
): Promise<{ code: number | null; screen: string }> {
  const run = startGatekeep(args, { cwd, terminal: true })
  let answeredAt = 0
  try {
    for (const { waitFor, send } of exchanges) {
      await run.waitFor(waitFor, undefined, answeredAt)
      answeredAt = run.output().length
      run.type(send)
    }
  } catch (error) {
    run.signal('SIGKILL')
    throw error
  }
  const { code } = await run.exited
  return { code, screen: run.output() }
}
