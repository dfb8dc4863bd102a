import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface DevState {
  /** dev itself. */
  pid: number
  /** The services listening now, with the pid of the process that listens. */
  services: { url: string; pid: number }[]
  provider: { url: string; pid: number } | null
}

/**
 * `.gatekeep/dev.json`: where the running session listens, for other commands (simulate-abort).
 * Written whole under a temporary name and renamed, so a reader never sees half of it.
 */
export class StateFile {
  readonly path: string

  constructor(root: string) {
    this.path = path.join(root, '.gatekeep', 'dev.json')
  }

  write(state: DevState): void {
    mkdirSync(path.dirname(this.path), { recursive: true })
    const temporary = `${this.path}.${process.pid}.tmp`
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`)
    renameSync(temporary, this.path)
  }

  remove(): void {
    rmSync(this.path, { force: true })
  }
}
