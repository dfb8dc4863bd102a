// Customer request outcomes per second, stacked, over the last minute, with each instance's gate
// phase as a band behind the bars. uPlot draws the chart; the bands are drawn in its `drawClear`
// hook, under its axes and bars, in the same coordinates.
import type { ConsoleEvent } from '../types.js'
import { el } from './dom.js'
import { clockSeconds, gatePhase, num, text, type Phase } from './format.js'
import { isService } from './gates.js'

const WINDOW_SECONDS = 60
const HEIGHT = 240
/** Each instance's line of gate phases above the plot (CSS px), and the space below the last. */
const LANE_ROW = 11
const LANE_GAP = 9
/** The wash behind the bars takes the phase of the least served instance. */
const PHASE_SEVERITY: Phase[] = ['closed', 'pending', 'idle', 'open']

/** The outcomes, bottom of the stack first. */
const OUTCOMES = [
  { key: 'ok', label: '200', title: 'served' },
  { key: 'gate', label: '503 gate', title: 'refused by the closed gate' },
  { key: 'unavailable', label: '503 other', title: 'refused for another cause: pressure, shutdown, breaker' },
  { key: 'limited', label: '429', title: 'rate limited' },
  { key: 'failed', label: '5xx', title: 'failed with another 5xx' },
  { key: 'aborted', label: 'aborted', title: 'the customer hung up before the answer' },
] as const

type Counts = number[]

/** One interval's totals, split into the outcomes (OUTCOMES' order). */
function outcomes(event: ConsoleEvent): Counts {
  const byStatus = (event.byStatus ?? {}) as Record<string, unknown>
  const byCause = (event.byCause ?? {}) as Record<string, unknown>
  const answered = (code: string) => num(byStatus[code]) ?? 0
  const gate = num(byCause.gate) ?? 0
  let failed = 0
  for (const [code, count] of Object.entries(byStatus)) {
    const status = Number(code)
    if (status >= 500 && status <= 599 && status !== 503) failed += num(count) ?? 0
  }
  return [answered('200'), gate, Math.max(0, answered('503') - gate), answered('429'), failed, num(event.aborted) ?? 0]
}

interface Transition {
  at: number
  phase: Phase
}

function cssColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}

export class RequestChart {
  readonly #plot: uPlot
  /** Totals per whole second (epoch s). */
  readonly #seconds = new Map<number, Counts>()
  /** Each instance's gate phases, oldest first. */
  readonly #bands = new Map<string, Transition[]>()
  readonly #legendValues: HTMLElement[] = []
  readonly #legendTotals: HTMLElement[] = []
  readonly #legendCaption: HTMLElement
  readonly #colors: Record<Phase | (typeof OUTCOMES)[number]['key'], string>
  /** The seconds and per-outcome counts on the chart now (not stacked), for the legend. */
  #shown: { xs: number[]; counts: Counts[] } = { xs: [], counts: [] }
  #redrawQueued = false

  constructor(root: HTMLElement, legend: HTMLElement) {
    this.#colors = {
      ok: cssColor('--ok'),
      gate: cssColor('--pending'),
      unavailable: cssColor('--orange'),
      limited: cssColor('--violet'),
      failed: cssColor('--bad'),
      aborted: cssColor('--muted'),
      open: cssColor('--ok'),
      pending: cssColor('--pending'),
      closed: cssColor('--bad'),
      idle: cssColor('--muted'),
    }
    this.#legendCaption = el('span', 'legend-caption')
    const items = el('ul', 'legend-items')
    for (const outcome of OUTCOMES) {
      const item = el('li', 'legend-item')
      item.dataset.outcome = outcome.key
      item.title = outcome.title
      const swatch = el('span', 'swatch')
      swatch.style.background = this.#colors[outcome.key]
      const value = el('b', 'legend-value', '0')
      const total = el('span', 'legend-total', '0')
      item.append(swatch, el('span', 'legend-label', outcome.label), value, el('span', 'legend-unit', '/s'), total)
      items.append(item)
      this.#legendValues.push(value)
      this.#legendTotals.push(total)
    }
    legend.replaceChildren(items, this.#legendCaption)

    const axis: uPlot.Axis = {
      stroke: cssColor('--muted'),
      grid: { stroke: cssColor('--grid'), width: 1 },
      ticks: { stroke: cssColor('--grid'), width: 1 },
      font: '11px ui-sans-serif, system-ui, sans-serif',
    }
    // The full build has every path builder.
    const bars = uPlot.paths.bars!({ size: [0.72, 28], gap: 1 })
    // Stacked: each series is drawn from 0 to the sum of its outcome and those below it, the
    // tallest first, so that each lower one covers all but its own slice.
    const series: uPlot.Series[] = [...OUTCOMES].reverse().map((outcome) => ({
      label: outcome.label,
      fill: this.#colors[outcome.key],
      stroke: this.#colors[outcome.key],
      width: 0,
      paths: bars,
      points: { show: false },
    }))
    this.#plot = new uPlot(
      {
        width: Math.max(320, root.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        // Room above the plot for the instances' lines; uPlot asks again on every resize.
        padding: [() => this.#bands.size * LANE_ROW + LANE_GAP + 6, null, null, null],
        cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false }, y: false },
        scales: {
          x: { time: true, range: (_, min, max) => [min - 0.5, max + 0.5] },
          y: { range: (_, __, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        },
        axes: [
          // The event list's clock, one line: uPlot's default adds a date row a live minute does not need.
          { ...axis, space: 64, values: (_, splits) => splits.map((second) => clockSeconds(second * 1000)) },
          { ...axis, size: 44, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
        ],
        series: [{}, ...series],
        hooks: {
          drawClear: [(plot) => this.#drawBands(plot)],
          setCursor: [(plot) => this.#showLegend(plot.cursor.idx ?? null)],
        },
      },
      [[], ...series.map(() => [])],
      root,
    )
    new ResizeObserver(() => this.#plot.setSize({ width: Math.max(320, root.clientWidth), height: HEIGHT })).observe(root)
  }

  /** Starts over from the snapshot: its request totals, and the gate events among its recent ones. */
  reset(requests: ConsoleEvent[], gates: ConsoleEvent[]): void {
    this.#seconds.clear()
    this.#bands.clear()
    for (const event of requests) this.#count(event)
    for (const event of [...gates].sort((a, b) => a.at - b.at)) this.addGate(event)
    this.redraw()
  }

  addRequests(event: ConsoleEvent): void {
    this.#count(event)
    this.#queueRedraw()
  }

  addGate(event: ConsoleEvent): void {
    if (!isService(event.source)) return
    const transitions = this.#bands.get(event.source)
    const phase = gatePhase(text(event.state))
    if (transitions === undefined) {
      this.#bands.set(event.source, [{ at: event.at, phase }])
      // A new line above the plot: its padding is measured again on a resize.
      this.#plot.setSize({ width: this.#plot.width, height: HEIGHT })
    } else if (transitions.at(-1)?.phase !== phase) {
      transitions.push({ at: event.at, phase })
    }
    this.#queueRedraw()
  }

  /** Moves the window to now and draws. */
  redraw(): void {
    const last = Math.floor(Date.now() / 1000)
    const first = last - WINDOW_SECONDS + 1
    for (const second of this.#seconds.keys()) if (second < first) this.#seconds.delete(second)
    for (const transitions of this.#bands.values()) {
      // The last transition before the window still colours its start.
      while (transitions.length > 1 && (transitions[1] as Transition).at <= first * 1000) transitions.shift()
    }
    const xs: number[] = []
    const counts: Counts[] = []
    for (let second = first; second <= last; second += 1) {
      xs.push(second)
      counts.push(this.#seconds.get(second) ?? OUTCOMES.map(() => 0))
    }
    this.#shown = { xs, counts }
    const stacked = OUTCOMES.map((_, outcome) => counts.map((row) => row.slice(0, outcome + 1).reduce((sum, count) => sum + count, 0)))
    this.#plot.setData([xs, ...stacked.reverse()])
    this.#showLegend(this.#plot.cursor.idx ?? null)
  }

  #count(event: ConsoleEvent): void {
    const second = Math.floor(event.at / 1000)
    const row = this.#seconds.get(second) ?? OUTCOMES.map(() => 0)
    outcomes(event).forEach((count, index) => (row[index] = (row[index] ?? 0) + count))
    this.#seconds.set(second, row)
  }

  /** Totals arrive ten times a second per instance: one redraw per frame is plenty. */
  #queueRedraw(): void {
    if (this.#redrawQueued) return
    this.#redrawQueued = true
    requestAnimationFrame(() => {
      this.#redrawQueued = false
      this.redraw()
    })
  }

  /** The legend tells the second under the cursor, or the last whole second. */
  #showLegend(hovered: number | null): void {
    const { xs, counts } = this.#shown
    const index = hovered ?? xs.length - 2
    const row = counts[index]
    const second = xs[index]
    this.#legendCaption.textContent = second === undefined ? '' : hovered === null ? 'last second' : `at ${clockSeconds(second * 1000)}`
    OUTCOMES.forEach((_, outcome) => {
      ;(this.#legendValues[outcome] as HTMLElement).textContent = String(row?.[outcome] ?? 0)
      const total = counts.reduce((sum, each) => sum + (each[outcome] ?? 0), 0)
      ;(this.#legendTotals[outcome] as HTMLElement).textContent = `${total} in ${WINDOW_SECONDS} s`
    })
  }

  /**
   * Behind the bars, a wash of the gates' phase (the least served instance's, when there are
   * several: customers met it); above the plot, one line per instance with its own phases.
   */
  #drawBands(plot: uPlot): void {
    const lanes = this.#lanes()
    if (lanes.length === 0) return
    const { left, top, width, height } = plot.bbox
    const right = left + width
    const now = Date.now()
    const x = (at: number, limit: (a: number, b: number) => number, bound: number) => limit(bound, plot.valToPos(at / 1000, 'x', true))
    const ctx = plot.ctx
    const pixel = devicePixelRatio
    ctx.save()

    const changes = [...new Set(lanes.flatMap((source) => (this.#bands.get(source) as Transition[]).map(({ at }) => at)))].sort((a, b) => a - b)
    changes.forEach((at, index) => {
      const phases = lanes.flatMap((source) => (this.#bands.get(source) as Transition[]).filter((transition) => transition.at <= at).slice(-1).map(({ phase }) => phase))
      const worst = PHASE_SEVERITY.find((phase) => phases.includes(phase))
      const x0 = x(at, Math.max, left)
      const x1 = x(changes[index + 1] ?? now, Math.min, right)
      if (worst === undefined || x1 <= x0) return
      ctx.globalAlpha = 0.08
      ctx.fillStyle = this.#colors[worst]
      ctx.fillRect(x0, top, x1 - x0, height)
    })

    ctx.font = `${Math.round(10 * pixel)}px ui-sans-serif, system-ui, sans-serif`
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    lanes.forEach((source, lane) => {
      const middle = top - (lanes.length - lane - 0.5) * LANE_ROW * pixel - LANE_GAP * pixel
      const transitions = this.#bands.get(source) as Transition[]
      transitions.forEach((transition, index) => {
        const x0 = x(transition.at, Math.max, left)
        const x1 = x(transitions[index + 1]?.at ?? now, Math.min, right)
        if (x1 <= x0) return
        ctx.globalAlpha = 0.9
        ctx.fillStyle = this.#colors[transition.phase]
        ctx.fillRect(x0, middle - 2 * pixel, x1 - x0, 4 * pixel)
      })
      if (lanes.length > 1) {
        ctx.globalAlpha = 1
        ctx.fillStyle = this.#colors.idle
        ctx.fillText(source.replace(/^service/, ''), left - 6 * pixel, middle)
      }
    })
    ctx.restore()
  }

  #lanes(): string[] {
    return [...this.#bands.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
  }
}
