import { InvalidArgumentError, type Command } from 'commander'
import type { DevFlags } from '../dev/settings.js'
import { choiceOption, parseNonNegativeInteger, parsePort, parsePositiveInteger } from '../options.js'
import { PROVIDER_MODES } from '../project/contract.js'

/** As the console's "Send traffic" takes it: 0 (none) to 1000 requests per second. */
function parseTrafficRate(value: string): number {
  const rps = Number(value)
  if (!/^\d+(\.\d+)?$/.test(value) || rps > 1000) throw new InvalidArgumentError('expected a rate from 0 to 1000 requests per second.')
  return rps
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run the service in watch mode beside the simulated provider, wired together, with a console to watch and drive it')
    .option('--delay <ms>', 'before the provider calls back (default: package.json "gatekeep".delay, 5000)', parseNonNegativeInteger)
    .option('--restart-delay <ms>', 'before it calls back after a restart (default: --delay)', parseNonNegativeInteger)
    .option('--port <n>', 'port of the service (default: package.json "gatekeep".port, 3000)', parsePort)
    .option('--provider-port <n>', 'port of the provider (default: package.json "gatekeep".providerPort, 4000)', parsePort)
    .addOption(choiceOption('--mode <mode>', 'a provider fault to simulate, or ok for none (default: ok)', PROVIDER_MODES))
    .option('--ttl <s>', 'lifetime of the keys the provider issues; 0: they never expire (default: 0)', parseNonNegativeInteger)
    .option('--instances <n>', 'service instances, on ports --port .. --port + n - 1; above 1 needs a --store redis project (default: 1)', parsePositiveInteger)
    .option('--no-watch', 'do not restart on changes')
    .option('--console-port <n>', 'port of the dev console (default: --provider-port + 1)', parsePort)
    .option('--no-console', 'do not serve the dev console')
    .option('--traffic <rps>', 'send customer traffic (GET /v1/data) at this rate, round-robin over the instances (default: 0)', parseTrafficRate)
    .addHelpText(
      'after',
      `
Settings, highest first: flags, the environment, .env (PORT, PROVIDER_PORT, PROVIDER_DELAY_MS,
PROVIDER_RESTART_DELAY_MS, PROVIDER_MODE, PROVIDER_TTL_S), package.json "gatekeep", defaults.
With --instances, the instances share one handshake through Redis (a project made with
\`gatekeep init --store redis\`, Redis at its REDIS_URL); a change restarts them all.
On a TTY: r restarts the service (every instance), f makes the provider call back now, q quits.
The dev console (http://127.0.0.1:<console port>/) shows the gates, the customers' outcomes and
the events, and drives the session: so does \`gatekeep trigger <action>\` from another terminal.
dev follows the service through the events it publishes on the gatekeep:* diagnostics channels
(src/events.ts), never through its logs, which it shows at the project's LOG_LEVEL. A message
that is no gatekeep event is ignored and counted; --verbose shows each.

Examples:
  $ gatekeep dev
  $ gatekeep dev --delay 1000 --restart-delay 200
  $ gatekeep dev --mode flaky --ttl 30
  $ gatekeep dev --instances 3
  $ gatekeep dev --traffic 5 --console-port 4500
  $ gatekeep dev --port 3100 --provider-port 4100 --no-watch`,
    )
    .action(async (flags: DevFlags, command: Command) => {
      // Loaded on use: the session's dependencies would slow down every other command.
      const { runDev } = await import('../dev/index.js')
      await runDev(flags, { verbose: Boolean(command.optsWithGlobals().verbose) })
    })
}
