import { spawn, spawnSync } from 'node:child_process'
import { binPath } from './gatekeep.js'

/**
 * util-linux `script` gives the CLI a real pseudo-terminal. Every Linux has it (CI runs on
 * Linux), so there a missing `script` fails these tests rather than skipping them; only other
 * systems skip them.
 */
export const terminalAvailable = process.platform === 'linux'
if (terminalAvailable && spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) {
  throw new Error('the terminal tests need util-linux `script` (Debian: bsdutils)')
}

export interface Exchange {
  /** Wait until the screen shows this... */
  waitFor: RegExp
  /** ...then type this. */
  send: string
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g

/** Runs gatekeep on a pseudo-terminal, typing each answer once its question is on screen. */
export function runInTerminal(
  args: readonly string[],
  cwd: string,
  exchanges: readonly Exchange[],
): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, binPath, ...args].map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ')
  const child = spawn('script', ['--quiet', '--return', '--command', `stty cols 100 rows 40; exec ${quoted}`, '/dev/null'], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', npm_config_user_agent: undefined },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let screen = ''
  let next = 0
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    screen += chunk.replace(ANSI, '')
    const exchange = exchanges[next]
    if (exchange && exchange.waitFor.test(screen)) {
      next += 1
      screen += '\n--- answered ---\n'
      child.stdin.write(exchange.send)
    }
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      child.stdin.destroy()
      resolve({ code, screen })
    })
  })
}
