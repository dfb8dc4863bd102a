// One card per service instance: its gate's phase (pending with a countdown, open, closed with its
// reason), what the handshake is doing, and the store and breaker when they speak up.
import type { ConsoleEvent, ServiceSnapshot } from '../types.js'
import { el } from './dom.js'
import { duration, flag, GATE_ACTIVITY, gatePhase, num, seconds, text } from './format.js'

interface Card {
  root: HTMLLIElement
  url: HTMLElement
  phase: HTMLElement
  activity: HTMLElement
  countdown: HTMLElement
  progress: HTMLElement
  chips: HTMLElement
  /** When the gate is expected to open (epoch ms); null without an estimate. */
  opensAt: number | null
  /** The pending gate's estimate was made at this time: where the progress bar starts. */
  estimatedAt: number
  store: boolean | undefined
  breaker: string | undefined
  listening: boolean
  /** Its last gate event, drawn again when something else about the instance changes. */
  gate: ConsoleEvent | null
}

/** Instances are `service` (dev runs one) or `service#<n>`; anything else is not a service. */
export function isService(source: string): boolean {
  return source === 'service' || source.startsWith('service#')
}

export class GateBoard {
  readonly #list: HTMLElement
  readonly #cards = new Map<string, Card>()

  constructor(list: HTMLElement) {
    this.#list = list
  }

  reset(services: ServiceSnapshot[]): void {
    this.#cards.clear()
    this.#list.replaceChildren()
    for (const service of services) {
      const card = this.#card(service.source)
      card.url.textContent = service.url
      card.listening = service.listening
      this.#render(card, service.gate)
    }
  }

  /** Takes the events that change a card; ignores the rest. */
  apply(event: ConsoleEvent): void {
    if (!isService(event.source)) return
    const card = this.#card(event.source)
    switch (event.type) {
      case 'gate':
        this.#render(card, event)
        break
      case 'listening':
        card.listening = true
        card.url.textContent = text(event.url) ?? card.url.textContent
        this.#render(card, card.gate)
        break
      case 'store':
        card.store = flag(event.up)
        this.#renderChips(card)
        break
      case 'breaker':
        card.breaker = text(event.state)
        this.#renderChips(card)
        break
    }
  }

  /** Moves the countdowns on. */
  tick(now: number): void {
    for (const card of this.#cards.values()) {
      if (card.opensAt === null) continue
      const left = card.opensAt - now
      card.countdown.textContent = left >= 0 ? `opens in ${seconds(left)}` : `expected ${seconds(-left)} ago`
      const span = card.opensAt - card.estimatedAt
      const done = span <= 0 ? 1 : Math.min(1, Math.max(0, (now - card.estimatedAt) / span))
      card.progress.style.transform = `scaleX(${done})`
    }
  }

  #card(source: string): Card {
    const existing = this.#cards.get(source)
    if (existing !== undefined) return existing
    const root = el('li', 'gate phase-idle')
    const head = el('div', 'gate-head')
    head.append(el('span', 'gate-source', source))
    const url = el('span', 'gate-url')
    head.append(url)
    const status = el('div', 'gate-status')
    status.append(el('span', 'gate-dot'))
    const phase = el('strong', 'gate-phase', 'idle')
    const countdown = el('span', 'gate-countdown')
    countdown.setAttribute('aria-live', 'off')
    status.append(phase, countdown)
    const activity = el('div', 'gate-activity')
    const track = el('div', 'gate-track')
    const progress = el('div', 'gate-progress')
    track.append(progress)
    const chips = el('div', 'gate-chips')
    root.append(head, status, activity, track, chips)
    root.setAttribute('aria-label', `gate of ${source}`)
    const card: Card = {
      root,
      url,
      phase,
      activity,
      countdown,
      progress,
      chips,
      opensAt: null,
      estimatedAt: 0,
      store: undefined,
      breaker: undefined,
      listening: false,
      gate: null,
    }
    // Instances in their order: service#2 after service#1 whatever order their events came in.
    const after = [...this.#cards.keys()].filter((other) => other.localeCompare(source, undefined, { numeric: true }) < 0).length
    this.#list.insertBefore(root, this.#list.children[after] ?? null)
    this.#cards.set(source, card)
    return card
  }

  #render(card: Card, gate: ConsoleEvent | null): void {
    card.gate = gate
    const state = gate === null ? undefined : text(gate.state)
    const phase = gatePhase(state)
    card.root.className = `gate phase-${phase}`
    card.phase.textContent = phase
    card.countdown.textContent = ''
    card.opensAt = null
    card.root.classList.remove('counting-down')
    if (gate === null || state === undefined) {
      card.activity.textContent = card.listening ? 'no gate event yet' : 'not listening yet'
      return
    }
    const reason = text(gate.reason)
    const attempt = num(gate.attempt)
    const lastError = text(gate.lastError)
    if (phase === 'open') {
      const refresh = text(gate.refresh)
      const elapsed = num(gate.elapsedMs)
      card.activity.textContent =
        refresh !== undefined ? `serving · refreshing the key (${refresh})` : `serving customers${elapsed === undefined ? '' : ` · opened after ${duration(elapsed)}`}`
      return
    }
    if (state === 'closed') {
      card.activity.textContent = reason ?? 'no reason given'
      return
    }
    const parts = [GATE_ACTIVITY[state] ?? state]
    if (reason !== undefined) parts.unshift(reason)
    if (attempt !== undefined && attempt > 1) parts.push(`attempt ${attempt}`)
    if (lastError !== undefined) parts.push(`last error ${lastError}`)
    card.activity.textContent = parts.join(' · ')
    const eta = num(gate.etaMs)
    if (phase === 'pending' && eta !== undefined) {
      card.opensAt = gate.at + eta
      card.estimatedAt = gate.at
      card.root.classList.add('counting-down')
      this.tick(Date.now())
    }
  }

  #renderChips(card: Card): void {
    const chips: HTMLElement[] = []
    if (card.store !== undefined) chips.push(el('span', `chip ${card.store ? 'chip-ok' : 'chip-bad'}`, card.store ? 'store up' : 'store down'))
    if (card.breaker !== undefined) {
      chips.push(el('span', `chip ${card.breaker === 'closed' ? 'chip-ok' : 'chip-bad'}`, `breaker ${card.breaker}`))
    }
    card.chips.replaceChildren(...chips)
  }
}
