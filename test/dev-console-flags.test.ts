// `gatekeep dev`'s console and traffic flags: the console's port, its default beside the
// provider's, the ports it may not share, and the traffic's rate.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { resolveDevSettings, type DevFlags } from '../src/dev/settings.js'
import { UsageError } from '../src/errors.js'
import { runGatekeep } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'

const sources = { env: {}, dotEnv: null, config: {} }
const settings = (flags: Partial<DevFlags>) => resolveDevSettings({ watch: false, ...flags }, sources)

test("the console listens on the provider's port + 1 unless told, not at all with --no-console", () => {
  assert.equal(settings({}).consolePort, 4001)
  assert.equal(settings({ providerPort: 4100 }).consolePort, 4101)
  assert.equal(settings({ consolePort: 4500 }).consolePort, 4500)
  assert.equal(settings({ console: false, consolePort: 4500 }).consolePort, null)
  assert.equal(settings({}).trafficRps, 0)
  assert.equal(settings({ traffic: 2.5 }).trafficRps, 2.5)
})

test('a console port that clashes with the service or the provider is refused, naming the flags', () => {
  assert.throws(() => settings({ consolePort: 4000 }), (error: Error) => error instanceof UsageError && /the console and the provider cannot share port 4000 \(console: --console-port\)/.test(error.message))
  assert.throws(() => settings({ instances: 1, port: 3000, consolePort: 3000 }), /the console and the service cannot share port 3000/)
  // The default clashes too: the provider's port + 1 is the service's.
  assert.throws(() => settings({ port: 4001 }), /the console and the service cannot share port 4001 \(console: the provider's port \+ 1\); pass --console-port or --no-console/)
  assert.equal(settings({ port: 4001, console: false }).consolePort, null)
  assert.throws(() => settings({ providerPort: 65535, port: 3000 }), /above 65535; pass --console-port or --no-console/)
})

test('a bad --console-port or --traffic is refused before anything starts: exit 2', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t)
  for (const [args, message] of [
    [['--console-port', '0'], /--console-port.*expected a port from 1 to 65535/],
    [['--traffic', 'lots'], /--traffic.*expected a rate from 0 to 1000 requests per second/],
    [['--traffic', '1001'], /--traffic.*expected a rate from 0 to 1000/],
  ] as const) {
    const { code, stderr } = await runGatekeep(['dev', ...args], { cwd })
    assert.equal(code, 2, args.join(' '))
    assert.match(stderr, message)
  }
})
