// One source for each setting: package.json "gatekeep" holds the project's values, the
// environment (`.env` included, the environment winning) overrides them, dev's flags override
// both. The CLI and the template each implement the rule (the CLI never loads template code at
// run time); these tests hold them to the same answers.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { resolveDevSettings, type DevFlags } from '../src/dev/settings.js'
import { UsageError } from '../src/errors.js'
import type { Env } from '../src/project/settings.js'
import { ConfigError, readProjectSetting, type ProjectSetting } from '../templates/service/src/config.js'
import { runGatekeep } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 20_000 }
const NO_FLAGS: DevFlags = { watch: false }

test('init refuses equal service and provider ports: exit 2, one line, the target not created', TIMEOUT, async (t) => {
  const cwd = tempDir(t)
  const { code, stdout, stderr } = await runGatekeep(['init', 'svc', '--port', '3750', '--provider-port', '3750', '-y'], { cwd })
  assert.equal(code, 2)
  assert.equal(stdout, '')
  assert.match(stderr, /^error: --port and --provider-port are both 3750: .*pass different ones\.\n$/)
  assert.equal(existsSync(path.join(cwd, 'svc')), false)

  const byDefault = await runGatekeep(['init', 'svc', '--provider-port', '3000', '-y'], { cwd })
  assert.equal(byDefault.code, 2)
  assert.match(byDefault.stderr, /both 3000/)
  assert.equal(existsSync(path.join(cwd, 'svc')), false)
})

test('init writes the settings to package.json only: .env holds the secret, no port or URL', TIMEOUT, async (t) => {
  const cwd = tempDir(t)
  const { code, stderr } = await runGatekeep(['init', 'svc', '--port', '3710', '--provider-port', '4710', '--delay', '3000', '-y'], { cwd })
  assert.equal(code, 0, stderr)
  const root = path.join(cwd, 'svc')
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { gatekeep: unknown }
  assert.deepEqual(manifest.gatekeep, { port: 3710, providerPort: 4710, delay: 3000, store: 'memory' })
  const dotEnv = readFileSync(path.join(root, '.env'), 'utf8')
  const settingLines = dotEnv.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))
  assert.deepEqual(settingLines.map((line) => line.split('=')[0]), ['WEBHOOK_SECRET'])
  assert.doesNotMatch(dotEnv, /3710|4710/)
  assert.match(dotEnv, /^# PUBLIC_URL=/m)
  assert.match(dotEnv, /^# PROVIDER_URL=/m)
  assert.match(readFileSync(path.join(root, 'Dockerfile'), 'utf8'), /^EXPOSE 3710$/m)
})

// Each case: the environment, `.env`, package.json "gatekeep", and the value every side must read.
const CASES: Array<{ what: string; env: Env; dotEnv: Record<string, string> | null; config: Record<string, unknown>; port: number; providerPort: number; delay: number }> = [
  { what: 'nothing set: the defaults', env: {}, dotEnv: null, config: {}, port: 3000, providerPort: 4000, delay: 5000 },
  {
    what: 'package.json alone',
    env: {},
    dotEnv: {},
    config: { port: 3710, providerPort: 4710, delay: 3000 },
    port: 3710,
    providerPort: 4710,
    delay: 3000,
  },
  {
    what: '.env over package.json',
    env: {},
    dotEnv: { PORT: '3399', PROVIDER_PORT: '4399', PROVIDER_DELAY_MS: '399' },
    config: { port: 3710, providerPort: 4710, delay: 3000 },
    port: 3399,
    providerPort: 4399,
    delay: 399,
  },
  {
    what: 'the environment over .env',
    env: { PORT: '3855', PROVIDER_PORT: '4855', PROVIDER_DELAY_MS: '855' },
    dotEnv: { PORT: '3399', PROVIDER_PORT: '4399', PROVIDER_DELAY_MS: '399' },
    config: { port: 3710, providerPort: 4710, delay: 3000 },
    port: 3855,
    providerPort: 4855,
    delay: 855,
  },
  {
    what: 'an empty variable counts as unset, and hides .env as process.loadEnvFile does',
    env: { PORT: '', PROVIDER_DELAY_MS: '' },
    dotEnv: { PORT: '3399', PROVIDER_PORT: '4399' },
    config: { port: 3710, delay: 3000 },
    port: 3710,
    providerPort: 4399,
    delay: 3000,
  },
]

for (const { what, env, dotEnv, config, ...expected } of CASES) {
  test(`gatekeep dev and the service read the same settings: ${what}`, () => {
    const dev = resolveDevSettings(NO_FLAGS, { env, dotEnv, config })
    assert.deepEqual({ port: dev.port, providerPort: dev.providerPort, delay: dev.delayMs }, expected)

    // The service and the provider see `.env` merged under the environment: process.loadEnvFile
    // adds only the variables the environment does not have.
    const merged: Env = { ...dotEnv, ...env }
    const project = { name: 'svc', settings: config }
    const template = Object.fromEntries(
      (['port', 'providerPort', 'delay'] as ProjectSetting[]).map((key) => [key, readProjectSetting(merged, project, key)]),
    )
    assert.deepEqual(template, expected)
  })
}

test("dev's flags win over every other source", () => {
  const dev = resolveDevSettings(
    { port: 3001, providerPort: 4001, delay: 1, watch: false },
    { env: { PORT: '3855', PROVIDER_DELAY_MS: '855' }, dotEnv: { PROVIDER_PORT: '4399' }, config: { port: 3710, delay: 3000 } },
  )
  assert.deepEqual({ port: dev.port, providerPort: dev.providerPort, delay: dev.delayMs }, { port: 3001, providerPort: 4001, delay: 1 })
})

test('both sides name where a bad value came from', () => {
  const devError = (env: Env, dotEnv: Record<string, string> | null, config: Record<string, unknown>) => {
    try {
      resolveDevSettings(NO_FLAGS, { env, dotEnv, config })
    } catch (error) {
      assert.ok(error instanceof UsageError)
      return error.message
    }
    assert.fail('accepted')
  }
  const templateError = (env: Env, config: Record<string, unknown>) => {
    try {
      readProjectSetting(env, { name: 'svc', settings: config }, 'port')
    } catch (error) {
      assert.ok(error instanceof ConfigError)
      return error.message
    }
    assert.fail('accepted')
  }
  assert.match(devError({ PORT: 'abc' }, null, {}), /^PORT=abc \(environment\): expected a port/)
  assert.match(devError({}, { PORT: 'abc' }, {}), /^PORT=abc \(\.env\): expected a port/)
  assert.match(devError({}, {}, { port: 'abc' }), /^package\.json "gatekeep"\.port: expected a port/)
  assert.match(templateError({ PORT: 'abc' }, {}), /^PORT must be a whole number/)
  assert.match(templateError({}, { port: 'abc' }), /^package\.json "gatekeep"\.port must be a whole number/)
})
