/**
 * Gathers changes until none has come for `quietMs` (a trailing debounce): a save, or a burst of
 * saves such as a formatter or a branch switch, is one restart.
 */
export class ChangeBatch {
  readonly #quietMs: number
  readonly #onSettled: (files: string[]) => void
  #files: string[] = []
  #timer: NodeJS.Timeout | undefined

  constructor(quietMs: number, onSettled: (files: string[]) => void) {
    this.#quietMs = quietMs
    this.#onSettled = onSettled
  }

  /** Adds a change; true when it opens a new batch. */
  add(file: string): boolean {
    const opened = this.#files.length === 0
    if (!this.#files.includes(file)) this.#files.push(file)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      const files = this.#files
      this.#files = []
      this.#onSettled(files)
    }, this.#quietMs)
    return opened
  }

  cancel(): void {
    clearTimeout(this.#timer)
    this.#files = []
  }
}
