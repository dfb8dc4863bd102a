import type { LogView, Source } from './log-view.js'

/** How much of an ignored message `--verbose` shows. */
const PREVIEW_CHARS = 200

function preview(message: unknown): string {
  let text: string
  try {
    text = JSON.stringify(message) ?? String(message)
  } catch {
    text = String(message)
  }
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text
}

/**
 * Messages from the children that match no event of the vocabulary (a service whose events.ts
 * drifted from this gatekeep's, say): ignored, never fatal, counted. The first is told with a
 * hint; `--verbose` tells each.
 */
export class IgnoredMessages {
  readonly #view: LogView
  readonly #verbose: boolean
  #count = 0

  constructor(view: LogView, { verbose }: { verbose: boolean }) {
    this.#view = view
    this.#verbose = verbose
  }

  note(source: Source, message: unknown): void {
    this.#count += 1
    if (this.#verbose) {
      this.#view.warn(`ignored a message from the ${source} that is no gatekeep event (${this.#count} so far): ${preview(message)}`)
    } else if (this.#count === 1) {
      this.#view.warn(`ignored a message from the ${source} that is no gatekeep event; --verbose shows each, with the count`)
    }
  }
}
