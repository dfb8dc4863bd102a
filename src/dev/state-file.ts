import { linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../errors.js'
import { devStatePath, isRunning, readDevState, serializeDevState, type DevState } from '../project/contract.js'

/** How often a claim retries after moving a dead session's file aside. */
const CLAIM_ATTEMPTS = 3

/**
 * `.gatekeep/dev.json`'s one writer: where the running session listens, for other commands
 * (simulate-abort, which reads it through the contract's `readDevState`), and the project's
 * one-session lock. Written whole under a temporary name (mode 600) and then linked or renamed
 * into place, so a reader never sees half of it.
 */
export class StateFile {
  readonly path: string

  constructor(root: string) {
    this.path = devStatePath(root)
  }

  /** The session the file names when its process still runs; null when there is none. */
  liveSession(): DevState | null {
    return liveOther(readDevState(this.path))
  }

  /**
   * Makes the file this session's, unless a live session holds it: that session is returned
   * and nothing is changed. A file whose process is gone is taken over.
   */
  claim(state: DevState): DevState | null {
    const temporary = this.#writeTemporary(state)
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        try {
          // Unlike a rename, a link fails when the file exists: of two sessions, one wins.
          linkSync(temporary, this.path)
          return null
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        }
        const holder = this.liveSession() ?? this.#takeAside()
        if (holder !== null) return holder
      }
      throw new Error(`${this.path} keeps coming back; is another gatekeep dev starting?`)
    } finally {
      rmSync(temporary, { force: true })
    }
  }

  write(state: DevState): void {
    renameSync(this.#writeTemporary(state), this.path)
  }

  /** Removes the file if it is still this session's: a later session's is not ours to remove. */
  remove(): void {
    if (readDevState(this.path)?.pid === process.pid) rmSync(this.path, { force: true })
  }

  /**
   * Removes a dead session's file by moving it aside first, so that of two sessions taking it
   * over at once only one removes it; when what it moved is a live session's (claimed since it
   * was read), it is put back and that session returned.
   */
  #takeAside(): DevState | null {
    const aside = `${this.path}.${process.pid}.stale`
    try {
      renameSync(this.path, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null // Gone meanwhile: claim again.
      throw error
    }
    const state = liveOther(readDevState(aside))
    if (state !== null) {
      try {
        linkSync(aside, this.path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      rmSync(aside, { force: true })
      return state
    }
    rmSync(aside, { force: true })
    return null
  }

  #writeTemporary(state: DevState): string {
    mkdirSync(path.dirname(this.path), { recursive: true })
    const temporary = `${this.path}.${process.pid}.tmp`
    // Removed first: a leftover of a dead process with this pid would keep its own mode.
    rmSync(temporary, { force: true })
    writeFileSync(temporary, serializeDevState(state), { mode: 0o600 })
    return temporary
  }
}

/** `state` when it names a session that runs; this process's own pid is a dead one's, reused. */
function liveOther(state: DevState | null): DevState | null {
  return state !== null && state.pid !== process.pid && isRunning(state.pid) ? state : null
}

/** A second session would take the first one's ports, or its dev.json: refused, naming the first. */
export function alreadyRunningError(session: DevState): UsageError {
  const urls = session.services.map((service) => service.url)
  const where = urls.length === 0 ? 'still starting' : `${urls.length === 1 ? 'service' : 'services'} ${urls.join(', ')}`
  return new UsageError(
    `gatekeep dev is already running in this project (pid ${session.pid}, ${where}); ` +
      `stop it first: q or Ctrl-C in its terminal, or kill ${session.pid}.`,
  )
}
