// The buttons and fields that drive the session, through the same API as `gatekeep trigger`.
import type { ActionResult } from '../types.js'
import { byId } from './dom.js'

type Answer = ActionResult | { error: string }

async function post(action: string, body: object = {}): Promise<Answer> {
  try {
    const response = await fetch(`/api/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return (await response.json()) as Answer
  } catch {
    return { error: 'dev does not answer: has it stopped?' }
  }
}

export class Controls {
  readonly #mode = byId<HTMLSelectElement>('mode')
  readonly #rate = byId<HTMLInputElement>('rate')
  readonly #count = byId<HTMLInputElement>('abort-count')
  readonly #result = byId<HTMLElement>('action-result')
  readonly #fieldset = byId<HTMLFieldSetElement>('controls')
  /** The provider's mode as dev last told it: the select goes back to it when a change fails. */
  #currentMode = ''
  readonly #onTraffic: (rps: number) => void

  constructor(onTraffic: (rps: number) => void) {
    this.#onTraffic = onTraffic
    this.#button('fire', () => this.#run('fire'))
    this.#button('restart', () => this.#run('restart'))
    this.#button('expire', () => this.#run('expire'))
    this.#button('traffic', async () => {
      const rps = this.#rate.valueAsNumber
      if (await this.#run('traffic', { rps })) this.#onTraffic(rps)
    })
    this.#button('abort', () => this.#run('abort', { count: this.#count.valueAsNumber }))
    this.#mode.addEventListener('change', async () => {
      if (!(await this.#run('mode', { mode: this.#mode.value }))) this.#mode.value = this.#currentMode
    })
  }

  setModes(modes: string[]): void {
    this.#mode.replaceChildren(...modes.map((mode) => new Option(mode, mode)))
  }

  setMode(mode: string): void {
    this.#currentMode = mode
    this.#mode.value = mode
  }

  setTraffic(rps: number): void {
    this.#rate.value = String(rps)
  }

  /** Off while the stream is down: the page would act blind. */
  setEnabled(enabled: boolean): void {
    this.#fieldset.disabled = !enabled
  }

  #button(id: string, action: () => Promise<unknown>): void {
    const button = byId<HTMLButtonElement>(id)
    button.addEventListener('click', async () => {
      button.setAttribute('aria-busy', 'true')
      try {
        await action()
      } finally {
        button.removeAttribute('aria-busy')
      }
    })
  }

  /** Whether the session applied it; says what changed, or why not. */
  async #run(action: string, body?: object): Promise<boolean> {
    const answer = await post(action, body)
    const applied = 'applied' in answer && answer.applied
    this.#result.className = `action-result ${applied ? 'tone-ok' : 'tone-bad'}`
    this.#result.textContent = 'error' in answer ? answer.error : answer.applied ? answer.changed : answer.reason
    return applied
  }
}
