import { randomBytes } from 'node:crypto'
import type { Store } from './settings.js'

export interface EnvFileValues {
  secret: string
  store: Store
}

/** A Standard Webhooks secret: `whsec_` then base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The `.env` of a project on this machine: the secret, and nothing that has its place in
 * package.json. Ports and URLs stay out: a value here would override package.json for every
 * entry point, and a URL pinned to the ports of init day would outlive a `PORT=... npm start`.
 */
export function renderEnvFile({ secret, store }: EnvFileValues): string {
  const lines = [
    '# Local settings for this machine, written by gatekeep. Never commit this file:',
    '# WEBHOOK_SECRET signs the provider\'s callbacks. See .env.example for every variable.',
    `WEBHOOK_SECRET=${secret}`,
    '',
    '# The ports and the mock provider\'s delay are in package.json "gatekeep"; PORT, PROVIDER_PORT',
    '# or PROVIDER_DELAY_MS set here override them on this machine only.',
    '# Set PUBLIC_URL when the provider must reach this service at another address than the one it',
    '# listens on (a proxy, a tunnel, a container); unset, it is where the service listens.',
    '# PUBLIC_URL=https://my-service.example.com',
    '# Set PROVIDER_URL to use a real provider; unset, it is the mock on package.json\'s providerPort.',
    '# PROVIDER_URL=https://provider.example.com',
  ]
  if (store === 'redis') lines.push('', 'REDIS_URL=redis://127.0.0.1:6379')
  return `${lines.join('\n')}\n`
}
