import type { AddressInfo } from 'node:net'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import type { Config } from '../config.js'
import { Gate } from '../gate.js'
import type { ProviderClient } from '../provider/client.js'
import type { GateStore } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    gate: Gate
    provider: ProviderClient
  }
}

export interface SetupOptions {
  config: Config
  store: GateStore
  provider: ProviderClient
}

/** Where this server can be reached on this machine; null when it listens on no TCP port. */
function listeningUrl(address: AddressInfo | string | null): string | null {
  if (address === null || typeof address === 'string') return null
  const unspecified = address.address === '0.0.0.0' || address.address === '::'
  const host = unspecified ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

/** The webhook address to give the provider: PUBLIC_URL, else where this server listens. */
function callbackUrl(config: Config, listening: string | null): string {
  if (config.publicUrl) return `${config.publicUrl}/webhook`
  if (listening === null) throw new Error('PUBLIC_URL must be set when the server does not listen on a TCP port')
  return `${listening}/webhook`
}

/**
 * Runs the handshake with the provider and holds the key it yields (`fastify.gate`). The
 * handshake starts the moment the server listens: earlier, the provider's webhook could find
 * nobody listening.
 */
export default fp(
  async function setup(fastify, { config, store, provider }: SetupOptions) {
    const { events } = fastify
    // Before the gate subscribes, so that the store's change is told before what the gate does about it.
    store.onAvailabilityChange((up) => events.publish('store', { up }))
    const gate = new Gate({ provider, store, config: config.gate, events })
    new Gauge({
      name: 'gatekeep_gate_open',
      help: '1 while customer routes are served, 0 while they answer 503.',
      registers: [fastify.metricsRegistry],
      collect() {
        this.set(gate.isOpen ? 1 : 0)
      },
    })
    new Gauge({
      name: 'gatekeep_store_up',
      help: '1 while the store of the key answers, 0 during an outage (an open gate keeps serving).',
      registers: [fastify.metricsRegistry],
      collect() {
        this.set(gate.storeAvailable() ? 1 : 0)
      },
    })

    fastify.decorate('provider', provider)
    fastify.decorate('gate', gate)

    fastify.addHook('onListen', async function startHandshake() {
      const url = listeningUrl(fastify.server.address())
      // Told from here rather than read from Fastify's "Server listening at" line, which a
      // listenTextResolver or a log level may change.
      if (url !== null) events.publish('listening', { url })
      await gate.start(callbackUrl(config, url))
    })
    fastify.addHook('onClose', async () => {
      gate.stop()
      await store.close()
      await provider.close()
    })
  },
  { name: 'setup', dependencies: ['events', 'metrics'] },
)
