import { randomBytes } from 'node:crypto'
import type { Store } from './settings.js'

export interface EnvFileValues {
  secret: string
  port: number
  providerPort: number
  store: Store
}

/** A Standard Webhooks secret: `whsec_` then base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/** The `.env` of a project on this machine; `.env.example` documents every variable. */
export function renderEnvFile({ secret, port, providerPort, store }: EnvFileValues): string {
  const lines = [
    '# Local settings for this machine, written by gatekeep. Never commit this file:',
    '# WEBHOOK_SECRET signs the provider\'s callbacks. See .env.example for every variable.',
    `WEBHOOK_SECRET=${secret}`,
    `PORT=${port}`,
    `PROVIDER_PORT=${providerPort}`,
    `PROVIDER_URL=http://127.0.0.1:${providerPort}`,
    `PUBLIC_URL=http://127.0.0.1:${port}`,
  ]
  if (store === 'redis') lines.push('REDIS_URL=redis://127.0.0.1:6379')
  return `${lines.join('\n')}\n`
}
