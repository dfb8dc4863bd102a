import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface DevState {
  /** dev itself. */
  pid: number
  /** The services listening now, with the pid of the process that listens. */
  services: { url: string; pid: number }[]
  provider: { url: string; pid: number } | null
}

/** How often a claim retries after moving a dead session's file aside. */
const CLAIM_ATTEMPTS = 3

/**
 * `.gatekeep/dev.json`: where the running session listens, for other commands (simulate-abort),
 * and the project's one-session lock. Written whole under a temporary name (mode 600) and then
 * linked or renamed into place, so a reader never sees half of it.
 */
export class StateFile {
  readonly path: string

  constructor(root: string) {
    this.path = path.join(root, '.gatekeep', 'dev.json')
  }

  /** The session the file names when its process still runs; null when there is none. */
  liveSession(): DevState | null {
    return liveOther(this.#read(this.path))
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
    if (this.#read(this.path)?.pid === process.pid) rmSync(this.path, { force: true })
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
    const state = liveOther(this.#read(aside))
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
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
    return temporary
  }

  /** The state in `file`; null when it is absent, unreadable or not a session's. */
  #read(file: string): DevState | null {
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevState> | null
      return typeof state?.pid === 'number' && Number.isInteger(state.pid) && state.pid > 0 ? (state as DevState) : null
    } catch {
      return null
    }
  }
}

/** `state` when it names a session that runs; this process's own pid is a dead one's, reused. */
function liveOther(state: DevState | null): DevState | null {
  return state !== null && state.pid !== process.pid && isRunning(state.pid) ? state : null
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
