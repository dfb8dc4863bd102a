// A provider mode switched live (the console, `gatekeep trigger mode`) outlives the provider's
// process: every provider dev starts afterwards starts in it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProviderSlot } from '../src/dev/provider-slot.js'
import { FakeChildren } from './helpers/fake-child.js'

test('a provider started after a mode switch starts in that mode, its other settings kept', async () => {
  const children = new FakeChildren()
  const slot = new ProviderSlot({
    url: 'http://127.0.0.1:4000',
    env: { PROVIDER_MODE: 'ok', PROVIDER_DELAY_MS: '5000' },
    entry: '/p/src/provider/mock-server.ts',
    launch: children.spawn,
    report: () => {},
    now: () => 0,
  })
  void slot.start(0)
  slot.mode = 'reject'
  await slot.stop()
  void slot.start(0)
  const [first, second] = children.providers()
  assert.deepEqual(first?.spec.env, { PROVIDER_MODE: 'ok', PROVIDER_DELAY_MS: '5000' })
  assert.deepEqual(second?.spec.env, { PROVIDER_MODE: 'reject', PROVIDER_DELAY_MS: '5000' })
  slot.close()
})
