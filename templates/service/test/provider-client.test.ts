import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { test, type TestContext } from 'node:test'
import { ProviderClient, ProviderError } from '../src/provider/client.js'
import { waitFor } from './helper.js'

/** A provider that takes every call and never answers; counts the connections open to it. */
async function silentProvider(t: TestContext): Promise<{ url: string; open: Set<Socket>; calls: () => number }> {
  const open = new Set<Socket>()
  let calls = 0
  const server: Server = createServer(() => {
    calls += 1
  })
  server.on('connection', (socket) => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, open, calls: () => calls }
}

test('a call slower than the timeout is a timeout; a call its caller cancels is the caller\'s, not the provider\'s', { timeout: 10_000 }, async (t) => {
  const provider = await silentProvider(t)
  // Above a second, where undici's own timeouts turn coarse.
  const client = new ProviderClient(provider.url, 1200)
  t.after(() => client.close())

  await assert.rejects(client.fetchData('mk_key', new AbortController().signal), (error) => error instanceof ProviderError && error.kind === 'timeout')

  const caller = new AbortController()
  const cancelled = client.fetchData('mk_key', caller.signal)
  await waitFor(() => provider.calls() === 2, { what: 'the call to reach the provider' })
  caller.abort()
  await assert.rejects(cancelled, (error) => !(error instanceof ProviderError))

  // A caller already gone never reaches the provider.
  await assert.rejects(client.fetchData('mk_key', AbortSignal.abort()), (error) => !(error instanceof ProviderError))
  assert.equal(provider.calls(), 2)
})

test('a call cancelled or timed out in flight leaves no connection open to the provider', { timeout: 10_000 }, async (t) => {
  const provider = await silentProvider(t)
  const client = new ProviderClient(provider.url, 300)
  t.after(() => client.close())

  const caller = new AbortController()
  const cancelled = client.fetchData('mk_key', caller.signal)
  await waitFor(() => provider.calls() === 1, { what: 'the call to reach the provider' })
  caller.abort()
  await assert.rejects(cancelled)
  // A connection left open, even unused, holds up the provider's own graceful close.
  await waitFor(() => provider.open.size === 0, { timeoutMs: 2000, what: 'no connection left after the cancelled call' })

  await assert.rejects(client.fetchData('mk_key', new AbortController().signal), (error) => error instanceof ProviderError && error.kind === 'timeout')
  await waitFor(() => provider.open.size === 0, { timeoutMs: 2000, what: 'no connection left after the timed-out call' })
})
