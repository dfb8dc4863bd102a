import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseEnv } from 'node:util'
import { UsageError } from '../errors.js'
import { generateWebhookSecret, renderEnvFile, type EnvFileValues } from '../project/env-file.js'

type Env = Record<string, string | undefined>

/** The variables of the project's `.env`; null when it has none (a fresh clone: it is git-ignored). */
export function readDotEnv(root: string): Record<string, string> | null {
  const file = path.join(root, '.env')
  if (!existsSync(file)) return null
  return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>
}

/** Writes `.env` with a fresh webhook secret; returns that secret. */
export function createDotEnv(root: string, values: Omit<EnvFileValues, 'secret'>): string {
  const secret = generateWebhookSecret()
  // It holds a secret: readable by its owner only. `wx`: never replace one written meanwhile.
  writeFileSync(path.join(root, '.env'), renderEnvFile({ ...values, secret }), { mode: 0o600, flag: 'wx' })
  return secret
}

/**
 * The secret the service and the provider share: the environment's, else `.env`'s. Null when
 * there is no `.env` yet (one is written). Never printed, even malformed.
 */
export function readWebhookSecret(env: Env, dotEnv: Record<string, string> | null): string | null {
  const secret = env.WEBHOOK_SECRET || dotEnv?.WEBHOOK_SECRET
  if (!secret) {
    if (dotEnv === null) return null
    throw new UsageError('.env has no WEBHOOK_SECRET; add one (see .env.example), or delete .env and gatekeep dev writes a new one.')
  }
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw new UsageError('WEBHOOK_SECRET must be a Standard Webhooks secret: "whsec_" followed by base64.')
  }
  return secret
}
