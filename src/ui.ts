import { createColors } from 'picocolors'

// picocolors alone turns colors on whenever CI is set; the contract wants them on a TTY only.
function colorsWanted(): boolean {
  if (process.argv.includes('--no-color') || 'NO_COLOR' in process.env) return false
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true
  return Boolean(process.stdout.isTTY) && process.env.TERM !== 'dumb'
}

export const colors = createColors(colorsWanted())

/** True when a person is at the keyboard: prompts and key presses are allowed. */
export function interactive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY)
}
