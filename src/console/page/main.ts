// The console page: follows dev's event stream (a snapshot first, then every event) and drives
// the session with the controls.
import type { ConsoleEvent, SnapshotEvent } from '../types.js'
import { RequestChart } from './chart.js'
import { Controls } from './controls.js'
import { byId } from './dom.js'
import { EventList } from './event-list.js'
import { num, text } from './format.js'
import { GateBoard } from './gates.js'

const gates = new GateBoard(byId('gates'))
const chart = new RequestChart(byId('chart'), byId('chart-legend'))
const events = new EventList(byId('events'))
const providerUrl = byId('provider-url')
const providerMode = byId('provider-mode')
const trafficRate = byId('traffic-rate')
const connection = byId('connection')
const controls = new Controls(showTraffic)

function showTraffic(rps: number): void {
  trafficRate.textContent = rps === 0 ? 'off' : `${rps} req/s`
  controls.setTraffic(rps)
}

function showMode(mode: string): void {
  providerMode.textContent = mode
  // Any mode but ok is a fault being played: it should catch the eye.
  providerMode.classList.toggle('fault', mode !== 'ok')
  controls.setMode(mode)
}

function start(snapshot: SnapshotEvent): void {
  gates.reset(snapshot.services)
  // Each instance's last gate event too: the recent ones may no longer reach back to it.
  const lastGates = snapshot.services.flatMap((service) => (service.gate === null ? [] : [service.gate]))
  chart.reset(snapshot.requests, [...snapshot.recent.filter((event) => event.type === 'gate'), ...lastGates])
  events.reset(snapshot.recent)
  providerUrl.textContent = snapshot.provider.listening ? snapshot.provider.url : `${snapshot.provider.url} (not listening)`
  controls.setModes(snapshot.modes)
  showMode(snapshot.provider.mode)
  showTraffic(snapshot.traffic.rps)
}

function follow(event: ConsoleEvent): void {
  switch (event.type) {
    case 'snapshot':
      return start(event as SnapshotEvent)
    case 'requests':
      return chart.addRequests(event)
    case 'gate':
      chart.addGate(event)
      break
    case 'provider-mode':
      showMode(text(event.mode) ?? '?')
      break
    case 'listening':
      if (event.source === 'provider') providerUrl.textContent = text(event.url) ?? providerUrl.textContent
      break
  }
  gates.apply(event)
  events.add(event)
}

const CONNECTION_STATES = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  stopped: 'dev stopped · reload to reconnect',
}

function setConnection(state: keyof typeof CONNECTION_STATES): void {
  connection.dataset.state = state
  connection.textContent = CONNECTION_STATES[state]
  controls.setEnabled(state === 'live')
}

const stream = new EventSource('/events')
setConnection('connecting')
stream.addEventListener('open', () => setConnection('live'))
stream.addEventListener('error', () => setConnection(stream.readyState === EventSource.CLOSED ? 'stopped' : 'reconnecting'))
stream.addEventListener('message', (message: MessageEvent<string>) => {
  let event: ConsoleEvent
  try {
    event = JSON.parse(message.data) as ConsoleEvent
  } catch {
    return
  }
  if (typeof event.type !== 'string' || num(event.at) === undefined || typeof event.source !== 'string') return
  follow(event)
})

// Countdowns move smoothly; the chart's window moves on with the clock even when nothing happens.
setInterval(() => gates.tick(Date.now()), 100)
setInterval(() => chart.redraw(), 1000)
