// The events a person reads, newest first: handshakes, webhooks, restarts, aborts, anything new.
import type { ConsoleEvent } from '../types.js'
import { el } from './dom.js'
import { clock, describe } from './format.js'

/** Enough to scroll back through a session; older lines go. */
const MAX_LINES = 300

export class EventList {
  readonly #list: HTMLElement

  constructor(list: HTMLElement) {
    this.#list = list
  }

  reset(recent: ConsoleEvent[]): void {
    this.#list.replaceChildren()
    // In the order they happened: instances' events reach dev by separate channels.
    for (const event of [...recent].sort((a, b) => a.at - b.at)) this.add(event)
  }

  add(event: ConsoleEvent): void {
    const line = describe(event)
    if (line === null) return
    const item = el('li', `entry tone-${line.tone}`)
    const time = el('time', 'entry-time', clock(event.at))
    time.dateTime = new Date(event.at).toISOString()
    item.append(time, el('span', 'entry-source', event.source), el('span', 'entry-type', event.type), el('span', 'entry-text', line.text))
    this.#list.prepend(item)
    while (this.#list.children.length > MAX_LINES) this.#list.lastElementChild?.remove()
  }
}
