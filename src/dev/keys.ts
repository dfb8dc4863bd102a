import { interactive } from '../ui.js'

export interface KeyHandlers {
  /** r */
  restart(): void
  /** f: the provider calls back now. */
  fire(): void
  /** q */
  quit(): void
  /** Ctrl-C: raw mode turns it into a key instead of SIGINT. */
  interrupt(): void
}

/** Starts reading keys; returns the function that gives the terminal back, or null without a keyboard. */
export type KeySource = (handlers: KeyHandlers) => (() => void) | null

/** `r`, `f`, `q` and Ctrl-C on a TTY. Without one nothing reads stdin. */
export const listenForKeys: KeySource = (handlers) => {
  if (!interactive()) return null
  const { stdin } = process
  const onData = (key: string) => {
    if (key === 'r') handlers.restart()
    else if (key === 'f') handlers.fire()
    else if (key === 'q') handlers.quit()
    else if (key === '\u0003') handlers.interrupt()
  }
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.on('data', onData)
  stdin.resume()
  return () => {
    stdin.off('data', onData)
    stdin.setRawMode(false)
    stdin.pause()
  }
}
