// The dev console against a REAL `gatekeep dev` (service, mock provider, customer traffic) in
// headless Chromium: the gate pending and customers refused, "Fire webhook" opening it, "Expire
// key" closing it until the next handshake opens it, and `gatekeep trigger` switching the
// provider's mode live.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from 'playwright-core'
import { launchChromium } from './helpers/console.js'
import { readDevStateIn, startDevSession } from './helpers/dev.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'
import { freePort } from './helpers/ports.js'

const SCREENSHOTS = path.join(repoRoot, 'test', 'screenshots')
/** Every wait is bounded by this; none is a timing assertion. */
const WAIT = { timeout: 20_000 }

/** Resolves with `probe`'s value once it is not null; fails after `timeoutMs`, saying `what`. */
async function until<T>(probe: () => Promise<T | null>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => null)
    if (value !== null) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(100)
  }
}

/** The service's readiness: its status and reason. */
async function readiness(baseUrl: string): Promise<{ status: number; reason?: string }> {
  const response = await fetch(`${baseUrl}/health/ready`)
  const body = (await response.json()) as { reason?: string }
  return { status: response.status, reason: body.reason }
}

function phaseOf(page: Page) {
  return page.locator('li.gate[aria-label="gate of service"] .gate-phase')
}

test('the console follows and drives a real gatekeep dev', { timeout: 180_000 }, async (t) => {
  const consolePort = await freePort()
  // The first webhook waits for the button; every later one comes by itself, soon.
  const dev = await startDevSession(t, {
    args: ['--console-port', String(consolePort), '--traffic', '5', '--delay', '600000', '--restart-delay', '1000', '--no-watch'],
  })
  const consoleUrl = `http://127.0.0.1:${consolePort}/`
  await dev.waitFor(new RegExp(`console  ${consoleUrl.replace(/[.]/g, '\\.')}`), 30_000)
  await dev.waitFor(/customers: 503 ×\d+\/s \(Retry-After \d+ s\)/, 30_000)
  const state = readDevStateIn(dev.root)
  assert.equal(state?.console?.url, consoleUrl)
  assert.match(state?.console?.token ?? '', /^[\w-]{16,}$/)

  const browser = await launchChromium()
  t.after(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const foreign: string[] = []
  const errors: string[] = []
  const host = new URL(consoleUrl).host
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
  await page.goto(consoleUrl)
  await page.locator('#connection[data-state="live"]').waitFor(WAIT)
  const phase = phaseOf(page)

  // Pending while the gate waits for the webhook; the traffic's 503s reach the chart.
  await phase.filter({ hasText: /^pending$/ }).waitFor(WAIT)
  await page.locator('.legend-item[data-outcome="gate"] .legend-total').filter({ hasText: /^[1-9]\d* in 60 s$/ }).waitFor(WAIT)

  // Fire webhook: the provider calls back, the gate opens, the customers are served.
  await page.getByRole('button', { name: 'Fire webhook' }).click()
  await phase.filter({ hasText: /^open$/ }).waitFor(WAIT)
  await dev.waitFor(/customers: 200 ×\d+\/s/, 30_000)
  await page.locator('.legend-item[data-outcome="ok"] .legend-total').filter({ hasText: /^[1-9]\d* in 60 s$/ }).waitFor(WAIT)

  // Expire key: the gate closes (key-expired), and the next handshake opens it again.
  await page.getByRole('button', { name: 'Expire key' }).click()
  await page.locator('#events .entry').filter({ hasText: /gate closed: key-expired/ }).first().waitFor(WAIT)
  await phase.filter({ hasText: /^open$/ }).waitFor(WAIT)
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-dev.png'), fullPage: true })

  // The provider refuses from now on: the expired key's handshake fails.
  const reject = await runGatekeep(['trigger', 'mode', 'reject'], { cwd: dev.root, t })
  assert.equal(reject.code, 0, reject.stderr)
  assert.match(reject.stdout, /^provider mode: reject \(was ok\)\n$/)
  await page.locator('#provider-mode').filter({ hasText: /^reject$/ }).waitFor(WAIT)
  const expire = await runGatekeep(['trigger', 'expire'], { cwd: dev.root, t })
  assert.equal(expire.code, 0, expire.stderr)
  await until(async () => ((await readiness(dev.baseUrl)).reason === 'gate-failed' ? true : null), 'readiness gate-failed')

  // Back to ok: the next attempt succeeds and the service is ready again.
  const ok = await runGatekeep(['trigger', 'mode', 'ok'], { cwd: dev.root, t })
  assert.equal(ok.code, 0, ok.stderr)
  await until(async () => ((await readiness(dev.baseUrl)).status === 200 ? true : null), 'ready again', 60_000)
  await phase.filter({ hasText: /^open$/ }).waitFor(WAIT)

  assert.deepEqual(foreign, [])
  assert.deepEqual(errors, [])

  // dev quits with the tab open: it stops promptly, the console's connections closed.
  dev.signal('SIGTERM')
  assert.equal((await dev.exited).code, 0)
  await page.locator('#connection').filter({ hasText: /reconnecting|dev stopped/ }).waitFor(WAIT)
})
