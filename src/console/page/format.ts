// How the page reads the stream's events and words them. Events arrive as JSON from dev, which
// forwards what services publish: every field is read through `text`/`num`/`flag`, so that a
// newer service's missing or different field shows as absent rather than breaking the page.
import type { ConsoleEvent } from '../types.js'

export const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)
export const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
export const flag = (value: unknown): boolean | undefined => (typeof value === 'boolean' ? value : undefined)

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** A span of time at the precision that matters at its size: 2.8 ms, 214 ms, 21.0 s, 12 min, 1 h 05 min. */
export function duration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return seconds(ms)
  const minutes = Math.round(ms / 60_000)
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })

/** 18:22:05 */
export function clockSeconds(at: number): string {
  return clockFormat.format(at)
}

/** 18:22:05.657: events a few ms apart stay apart. */
export function clock(at: number): string {
  return `${clockFormat.format(at)}.${String(Math.floor(at % 1000)).padStart(3, '0')}`
}

/** What a gate state means to a customer: served, about to be, or not. */
export type Phase = 'open' | 'pending' | 'closed' | 'idle'

export function gatePhase(state: string | undefined): Phase {
  switch (state) {
    case 'open':
      return 'open'
    case 'closed':
    case 'exhausted':
      return 'closed'
    case 'idle':
    case undefined:
      return 'idle'
    default:
      return 'pending'
  }
}

/** What the gate is doing while it is not open, in words. */
export const GATE_ACTIVITY: Record<string, string> = {
  idle: 'not started',
  claiming: 'claiming the handshake',
  authorizing: 'asking the provider for a key',
  'awaiting-webhook': "awaiting the provider's webhook",
  'backing-off': 'backing off before the next attempt',
  following: 'another instance runs the handshake',
  'waiting-for-store': 'waiting for the store to come back',
  exhausted: 'gave up: every attempt failed',
}

export type Tone = 'ok' | 'pending' | 'bad' | 'warn' | 'info' | 'plain'

export interface Line {
  text: string
  tone: Tone
}

/** The event list's line for `event`; null for what the list does not show (the chart's totals, the snapshot). */
export function describe(event: ConsoleEvent): Line | null {
  switch (event.type) {
    case 'snapshot':
    case 'requests':
      return null
    case 'listening':
      return { text: `listening on ${text(event.url) ?? '?'}`, tone: 'info' }
    case 'listen-failed':
      return { text: `could not listen: ${text(event.message) ?? text(event.code) ?? 'unknown error'}`, tone: 'bad' }
    case 'gate':
      return describeGate(event)
    case 'handshake':
      return describeHandshake(event)
    case 'webhook':
      return describeWebhook(event)
    case 'abort': {
      const after = num(event.detectedAfterMs)
      const cancelled = flag(event.cancelled)
      const downstream = cancelled === undefined ? '' : cancelled ? ' · downstream call cancelled' : ' · downstream call not cancelled'
      return {
        text: `abort of ${text(event.requestId) ?? 'a request'} detected${after === undefined ? '' : ` after ${duration(after)}`}${downstream}`,
        tone: 'warn',
      }
    }
    case 'restart': {
      const took = num(event.durationMs)
      return { text: `restarted (${text(event.cause) ?? 'no cause given'})${took === undefined ? '' : ` in ${duration(took)}`}`, tone: 'info' }
    }
    case 'store':
      return flag(event.up) ? { text: 'store up', tone: 'ok' } : { text: 'store down', tone: 'bad' }
    case 'breaker': {
      const state = text(event.state) ?? '?'
      return { text: `provider breaker ${state}`, tone: state === 'closed' ? 'ok' : state === 'open' ? 'bad' : 'warn' }
    }
    case 'provider-mode':
      return { text: `provider mode: ${text(event.mode) ?? '?'}`, tone: 'info' }
    case 'shutdown': {
      const signal = text(event.signal)
      return { text: `shutting down: ${text(event.phase) ?? '?'}${signal === undefined ? '' : ` (${signal})`}`, tone: 'warn' }
    }
    default: {
      const { type, at, source, ...fields } = event
      return { text: `${type} ${JSON.stringify(fields)}`, tone: 'plain' }
    }
  }
}

function describeGate(event: ConsoleEvent): Line {
  const state = text(event.state)
  const reason = text(event.reason)
  const attempt = num(event.attempt)
  const lastError = text(event.lastError)
  if (state === 'open') {
    const refresh = text(event.refresh)
    if (refresh !== undefined) return { text: `gate open · key refresh ${refresh}`, tone: 'ok' }
    const elapsed = num(event.elapsedMs)
    return { text: `gate open${elapsed === undefined ? '' : ` after ${duration(elapsed)}`}`, tone: 'ok' }
  }
  if (state === 'closed') return { text: `gate closed: ${reason ?? 'no reason given'}`, tone: 'bad' }
  if (state === 'exhausted') {
    return { text: `gate gave up after ${attempt ?? '?'} attempts${lastError === undefined ? '' : ` (${lastError})`}`, tone: 'bad' }
  }
  const eta = num(event.etaMs)
  const parts = [`gate ${state ?? '?'}`]
  if (reason !== undefined) parts.push(reason)
  if (attempt !== undefined && attempt > 1) parts.push(`attempt ${attempt}`)
  if (lastError !== undefined) parts.push(`last error ${lastError}`)
  if (eta !== undefined) parts.push(`opens in ~${seconds(eta)}`)
  return { text: parts.join(' · '), tone: 'pending' }
}

function describeHandshake(event: ConsoleEvent): Line {
  const attempt = num(event.attempt)
  switch (text(event.outcome)) {
    case 'started':
      return { text: `handshake started${attempt === undefined ? '' : ` (attempt ${attempt})`}`, tone: 'pending' }
    case 'completed': {
      const expiresAt = num(event.expiresAt)
      const refreshed = flag(event.refreshed) ? ' (key refreshed)' : ''
      const expiry = expiresAt === undefined ? '' : ` · key expires in ${duration(expiresAt - event.at)}`
      return { text: `handshake completed${refreshed}${expiry}`, tone: 'ok' }
    }
    case 'failed': {
      const message = text(event.message)
      const retry = num(event.retryInMs)
      return {
        text: `handshake failed: ${text(event.error) ?? 'unknown error'}${message === undefined ? '' : ` — ${message}`}${retry === undefined ? '' : ` · retry in ${duration(retry)}`}`,
        tone: 'bad',
      }
    }
    case 'exhausted':
      return { text: `handshake attempts exhausted${attempt === undefined ? '' : ` (${attempt})`}`, tone: 'bad' }
    default:
      return { text: `handshake ${text(event.outcome) ?? '?'}`, tone: 'plain' }
  }
}

const WEBHOOK_TONES: Record<string, Tone> = {
  received: 'plain',
  applied: 'ok',
  refused: 'bad',
  deferred: 'bad',
  duplicate: 'warn',
  stale: 'warn',
  early: 'warn',
}

function describeWebhook(event: ConsoleEvent): Line {
  const outcome = text(event.outcome) ?? '?'
  const parts = [`webhook ${outcome}`]
  const refusal = text(event.refusal)
  const reason = text(event.reason)
  const requestId = text(event.requestId)
  if (refusal !== undefined) parts.push(refusal)
  if (reason !== undefined) parts.push(reason)
  if (requestId !== undefined) parts.push(`handshake ${requestId}`)
  return { text: parts.join(' · '), tone: WEBHOOK_TONES[outcome] ?? 'plain' }
}
