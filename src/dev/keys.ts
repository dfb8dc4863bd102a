import { interactive } from '../ui.js'

export interface KeyHandlers {
  restart(): void
  callBackNow(): void
  quit(): void
  /** Ctrl-C: raw mode turns it into a key instead of SIGINT. */
  interrupt(): void
}

/**
 * `r`, `f` and `q` on a TTY. Without one nothing reads stdin. Returns the function that gives
 * the terminal back.
 */
export function listenForKeys(handlers: KeyHandlers): () => void {
  if (!interactive()) return () => {}
  const { stdin } = process
  const onData = (key: string) => {
    if (key === 'r') handlers.restart()
    else if (key === 'f') handlers.callBackNow()
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
