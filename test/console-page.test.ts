// The dev console's page in real headless Chromium, served by the real console server, against a
// fake session that plays the handshake story: pending with a countdown, 503s, the webhook, open,
// 200s; the key expires, the gate closes and opens again.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { after, before, test, type TestContext } from 'node:test'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { startConsole } from '../src/console/server.js'
import { FakeSession, launchChromium, measureEventToPixels, TOKEN } from './helpers/console.js'
import { freePort } from './helpers/ports.js'
import { repoRoot } from './helpers/gatekeep.js'

/** Git-ignored: a person looks at them; docs/console.png is one of them, chosen and copied by hand. */
const SCREENSHOTS = path.join(repoRoot, 'test', 'screenshots')
/** Every wait on the page is bounded by this; none is a timing assertion. */
const WAIT = { timeout: 10_000 }

let browser: Browser

before(async () => {
  browser = await launchChromium()
  mkdirSync(SCREENSHOTS, { recursive: true })
})

after(() => browser?.close())

interface Opened {
  page: Page
  /** Requests the page made to any host but the console's (each was aborted). */
  foreign: string[]
  /** Script errors and console errors. */
  errors: string[]
}

/** The console for `session` in a fresh browser context, its requests and errors recorded. */
async function openConsole(t: TestContext, session: FakeSession, options: BrowserContextOptions = {}): Promise<Opened & { close(): Promise<void> }> {
  const running = await startConsole({ session, port: await freePort(), token: TOKEN })
  t.after(() => running.close())
  const host = new URL(running.url).host
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark', ...options })
  t.after(() => context.close())
  const foreign: string[] = []
  const errors: string[] = []
  await context.route(
    (url) => url.host !== host,
    (route) => {
      foreign.push(route.request().url())
      return route.abort()
    },
  )
  const page = await context.newPage()
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console error: ${message.text()}`)
  })
  page.on('request', (request) => {
    if (new URL(request.url()).host !== host) foreign.push(request.url())
  })
  await page.goto(running.url)
  await page.locator('#connection[data-state="live"]').waitFor(WAIT)
  return { page, foreign, errors, close: () => running.close() }
}

function gate(page: Page, source = 'service') {
  const card = page.locator(`li.gate[aria-label="gate of ${source}"]`)
  return { card, phase: card.locator('.gate-phase'), activity: card.locator('.gate-activity'), countdown: card.locator('.gate-countdown') }
}

async function waitForText(page: Page, selector: string, pattern: RegExp): Promise<void> {
  await page.locator(selector).filter({ hasText: pattern }).first().waitFor(WAIT)
}

/** A countdown either way of its estimate: a slow machine may open the page after it passed. */
const COUNTDOWN = /^(opens in \d+\.\d s|expected \d+\.\d s ago)$/

/** The legend's count for one outcome over the chart's window. */
async function windowTotal(page: Page, outcome: string): Promise<number> {
  return Number.parseInt((await page.locator(`.legend-item[data-outcome="${outcome}"] .legend-total`).textContent()) ?? '', 10)
}

/** Waits for the legend to count `total` of `outcome` over the chart's window. */
async function waitForTotal(page: Page, outcome: string, total: number): Promise<void> {
  await page.locator(`.legend-item[data-outcome="${outcome}"] .legend-total`).filter({ hasText: new RegExp(`^${total} in 60 s$`) }).waitFor(WAIT)
}

test('the page tells the handshake story and drives the session', { timeout: 60_000 }, async (t) => {
  const session = new FakeSession(['service'])
  session.traffic.rps = 5
  session.emit({ type: 'listening', source: 'service', url: 'http://127.0.0.1:3000' })
  session.pending(60_000)
  const { page, foreign, errors, close } = await openConsole(t, session)
  const { phase, activity, countdown } = gate(page)

  // Closed: pending, with a countdown that moves.
  await waitForText(page, 'li.gate .gate-phase', /^pending$/)
  assert.match((await activity.textContent()) ?? '', /awaiting the provider's webhook/)
  await countdown.filter({ hasText: COUNTDOWN }).waitFor(WAIT)
  const first = await countdown.textContent()
  await countdown.filter({ hasNotText: first ?? '' }).waitFor(WAIT)
  assert.equal(await page.locator('#traffic-rate').textContent(), '5 req/s')
  assert.equal(await page.getByLabel('Provider mode').inputValue(), 'ok')

  // Customers refused by the gate: 503s reach the chart.
  for (let interval = 0; interval < 3; interval += 1) session.requestTotals('service', { '503': 5 })
  await waitForTotal(page, 'gate', 15)
  assert.equal(await windowTotal(page, 'ok'), 0)

  // Fire webhook: the session is called, the gate opens, the customers are served.
  await page.getByRole('button', { name: 'Fire webhook' }).click()
  await phase.filter({ hasText: /^open$/ }).waitFor(WAIT)
  assert.deepEqual(session.calls, ['fire'])
  await waitForText(page, '#action-result', /the provider called back/)
  await waitForText(page, '#events .entry', /webhook applied · handshake hs_1/)
  await waitForText(page, '#events .entry', /gate open after \d+\.\d s/)
  assert.equal(await countdown.textContent(), '')
  session.requestTotals('service', { '200': 5 })
  await waitForTotal(page, 'ok', 5)

  // Expire key: the gate closes with key-expired, a new handshake runs, the webhook reopens it.
  await page.getByRole('button', { name: 'Expire key' }).click()
  await phase.filter({ hasText: /^pending$/ }).waitFor(WAIT)
  await activity.filter({ hasText: /^key-expired · awaiting the provider's webhook$/ }).waitFor(WAIT)
  await waitForText(page, '#events .entry', /gate closed: key-expired/)
  session.deliverWebhook()
  await phase.filter({ hasText: /^open$/ }).waitFor(WAIT)
  assert.deepEqual(session.calls, ['fire', 'expire'])

  // The provider's mode, switched from the select; dev's event moves the header too.
  await page.getByLabel('Provider mode').selectOption('reject')
  await waitForText(page, '#provider-mode', /^reject$/)
  assert.equal(session.calls.at(-1), 'mode reject')
  assert.deepEqual(await page.getByLabel('Provider mode').locator('option').allTextContents(), ['ok', 'reject', 'never', 'flaky', 'bad-signature', 'wrong-key', 'slow-data'])

  // Traffic, restart, aborts: each reaches the session and reads well in the list.
  await page.getByLabel('Rate (req/s)').fill('12')
  await page.getByRole('button', { name: 'Send traffic' }).click()
  await waitForText(page, '#traffic-rate', /^12 req\/s$/)
  await page.getByRole('button', { name: 'Restart' }).click()
  await waitForText(page, '#events .entry', /restarted \(console\) in 182 ms/)
  await page.getByLabel('Aborted requests').fill('2')
  await page.getByRole('button', { name: 'Simulate abort' }).click()
  await waitForText(page, '#events .entry', /abort of req-abort-2 detected after 4.4 ms · downstream call cancelled/)
  assert.deepEqual(session.calls.slice(-3), ['traffic 12', 'restart', 'abort 2'])

  // An action the session cannot apply says why; the page stays as it was.
  session.restartRefusal = 'the service is restarting already'
  await page.getByRole('button', { name: 'Restart' }).click()
  await waitForText(page, '#action-result.tone-bad', /the service is restarting already/)

  // Closed for good, with its reason; and an event the page does not know, shown as it is.
  session.emit({ type: 'gate', source: 'service', state: 'exhausted', from: 'backing-off', reason: 'gate-failed', attempt: 5, lastError: 'key-rejected' })
  session.emit({ type: 'deploy-note', source: 'gatekeep', text: 'hello' })
  await phase.filter({ hasText: /^closed$/ }).waitFor(WAIT)
  await activity.filter({ hasText: /^gate-failed · gave up/ }).waitFor(WAIT)
  await waitForText(page, '#events .entry', /deploy-note \{"text":"hello"\}/)

  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-story.png'), fullPage: true })
  assert.deepEqual(foreign, [])
  // Chromium logs every answer that is not 2xx, the refused restart's 409 included: that one line
  // is the browser's, not a script error.
  assert.deepEqual(errors, ['console error: Failed to load resource: the server responded with a status of 409 (Conflict)'])

  // dev quits with the tab open: the console closes at once and the page says so.
  await close()
  await waitForText(page, '#connection', /reconnecting|dev stopped/)
  assert.equal(await page.getByRole('button', { name: 'Fire webhook' }).isDisabled(), true)
})

/**
 * A minute of a session on two instances, the README's screenshot: customers refused while the
 * first handshake runs, served once the webhook opens the gates, refused again since the key
 * expired 9 s ago, with the new handshake's countdown running. Returns what sends the traffic on,
 * up to now.
 */
function replayMinute(session: FakeSession): () => void {
  const now = Date.now()
  const startAt = now - 55_000
  const openAt = now - 35_000
  const expiredAt = now - 9_000
  const handshake = (source: string, at: number, reason: string, from: string) => {
    session.emit({ type: 'gate', source, state: 'claiming', from, reason, at })
    session.emit({ type: 'handshake', source, outcome: 'started', attempt: 1, at: at + 1 })
    session.emit({ type: 'gate', source, state: 'authorizing', from: 'claiming', reason, at: at + 2 })
    session.emit({ type: 'gate', source, state: 'awaiting-webhook', from: 'authorizing', reason, etaMs: 20_000, attempt: 1, at: at + 9 })
  }
  for (const [index, { source }] of session.services.entries()) {
    session.emit({ type: 'listening', source, url: `http://127.0.0.1:${3000 + index}`, at: startAt + index * 40 })
    handshake(source, startAt + index * 40 + 2, 'gate-pending', 'idle')
  }
  // Traffic at 4 requests/s, round-robin: each instance answers one every 500 ms. Now and then a
  // customer hangs up, or the rate limiter refuses one.
  let nextAt = startAt + 500
  const traffic = () => {
    for (; nextAt < Date.now(); nextAt += 500) {
      const tick = (nextAt - startAt) / 500
      for (const [index, { source }] of session.services.entries()) {
        const open = nextAt >= openAt && nextAt < expiredAt
        if ((tick + index * 7) % 19 === 4) session.requestTotals(source, { '499': 1 }, { aborted: 1, at: nextAt })
        else if (open && (tick + index * 5) % 23 === 9) session.requestTotals(source, { '429': 1 }, { at: nextAt })
        else session.requestTotals(source, open ? { '200': 1 } : { '503': 1 }, { at: nextAt })
      }
    }
  }
  traffic()
  for (const [index, { source }] of session.services.entries()) {
    const at = openAt + index * 3
    session.emit({ type: 'webhook', source, outcome: 'applied', reqId: 'req-7f3a', requestId: 'hs_1', at })
    session.emit({ type: 'handshake', source, outcome: 'completed', attempt: 1, requestId: 'hs_1', expiresAt: expiredAt, at: at + 1 })
    session.emit({ type: 'gate', source, state: 'open', from: 'awaiting-webhook', elapsedMs: 20_000 - index * 37, at: at + 2 })
  }
  session.emit({ type: 'restart', source: 'service#1', cause: 'src/routes/customer.ts changed', durationMs: 214, at: now - 24_000 })
  session.emit({ type: 'gate', source: 'service#1', state: 'open', from: 'idle', elapsedMs: 6, at: now - 23_790 })
  session.emit({ type: 'abort', source: 'service#0', requestId: 'req-5c1e', detectedAt: now - 16_000, detectedAfterMs: 2.8, cancelled: true, at: now - 16_000 })
  for (const [index, { source }] of session.services.entries()) {
    session.emit({ type: 'gate', source, state: 'closed', from: 'open', reason: 'key-expired', at: expiredAt + index })
    handshake(source, expiredAt + index + 1, 'key-expired', 'closed')
  }
  return traffic
}

for (const scheme of ['dark', 'light'] as const) {
  test(`a minute of history on two instances draws bands and stacked outcomes (${scheme})`, { timeout: 30_000 }, async (t) => {
    const session = new FakeSession(['service#0', 'service#1'])
    session.traffic.rps = 4
    const trafficGoesOn = replayMinute(session)
    const { page, foreign, errors } = await openConsole(t, session, { colorScheme: scheme })
    for (const source of ['service#0', 'service#1']) {
      const { phase, activity, countdown } = gate(page, source)
      await phase.filter({ hasText: /^pending$/ }).waitFor(WAIT)
      await activity.filter({ hasText: /^key-expired · awaiting the provider's webhook$/ }).waitFor(WAIT)
      await countdown.filter({ hasText: COUNTDOWN }).waitFor(WAIT)
    }
    assert.ok((await windowTotal(page, 'gate')) > 0)
    assert.ok((await windowTotal(page, 'ok')) > 0)
    assert.ok((await windowTotal(page, 'limited')) > 0)
    assert.ok((await windowTotal(page, 'aborted')) > 0)
    // Newest first.
    assert.match((await page.locator('#events .entry').first().textContent()) ?? '', /service#1.*gate awaiting-webhook · key-expired/)
    // Up to now, so that the legend's last second has the traffic.
    trafficGoesOn()
    await page.screenshot({ path: path.join(SCREENSHOTS, `console-${scheme}.png`) })
    // Live totals join the history: an outcome it has none of shows them alone.
    assert.equal(await windowTotal(page, 'failed'), 0)
    for (const at of [Date.now() - 1000, Date.now() - 500]) session.requestTotals('service#0', { '502': 1 }, { at })
    await waitForTotal(page, 'failed', 2)
    // Hovering the chart tells that second's outcomes.
    await page.locator('#chart .u-over').hover({ position: { x: 200, y: 60 } })
    await waitForText(page, '.legend-caption', /^at \d\d:\d\d:\d\d$/)
    await page.mouse.move(0, 0)
    await waitForText(page, '.legend-caption', /^last second$/)
    assert.deepEqual(foreign, [])
    assert.deepEqual(errors, [])
  })
}

test('event to pixels: the helper measures a gate event to its change on the page', { timeout: 30_000 }, async (t) => {
  const session = new FakeSession(['service'])
  session.pending(5000)
  const { page, errors } = await openConsole(t, session)
  const rounds = 21
  const { samples, median } = await measureEventToPixels(page, {
    rounds,
    change: (round) => ({ selector: 'li.gate .gate-phase', text: round % 2 === 0 ? 'open' : 'pending' }),
    emit: (round) =>
      round % 2 === 0
        ? session.emit({ type: 'gate', source: 'service', state: 'open', from: 'awaiting-webhook', elapsedMs: 1000 })
        : session.emit({ type: 'gate', source: 'service', state: 'awaiting-webhook', from: 'open', reason: 'key-expired', etaMs: 5000 }),
  })
  assert.equal(samples.length, rounds)
  assert.ok(samples.every((sample) => Number.isFinite(sample)))
  t.diagnostic(`event to pixels: median ${median.toFixed(1)} ms over ${rounds} rounds (fake session, loopback)`)
  assert.deepEqual(errors, [])
})
