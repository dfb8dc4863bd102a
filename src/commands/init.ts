import type { Command } from 'commander'
import type { InitFlags } from '../init/context.js'
import { choiceOption, parseNonNegativeInteger, parsePort } from '../options.js'
import { DEFAULT_SETTINGS, STORES } from '../project/settings.js'

const EXAMPLES = `
Examples:
  $ gatekeep init my-service                  prompts for what is missing (on a TTY)
  $ gatekeep init my-service -y               every default, no prompt
  $ gatekeep init api --port 8080 --delay 2000 --install --git
  $ gatekeep init . --force                   write into the current folder; replaced files are listed
`

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a new Fastify service that waits for its provider handshake before serving customers')
    .argument('[dir]', 'folder to create (prompted on a TTY, else "gatekeep-service")')
    .option('--name <pkg>', 'package name (default: the folder name, made a valid npm name)')
    .option('--port <n>', 'port of the service', parsePort, DEFAULT_SETTINGS.port)
    .option('--provider-port <n>', 'port of the mock provider', parsePort, DEFAULT_SETTINGS.providerPort)
    .option(
      '--delay <ms>',
      'how long the mock provider waits before calling back',
      parseNonNegativeInteger,
      DEFAULT_SETTINGS.delay,
    )
    .addOption(
      choiceOption('--store <store>', `where the provider key is kept (default: "${DEFAULT_SETTINGS.store}")`, STORES),
    )
    .option('--install', "run the package manager's install (the one gatekeep was started with)")
    .option('--no-install', 'do not install, and do not ask')
    .option('--git', 'git init and a first commit')
    .option('--force', 'write into a non-empty folder (replaced files are listed; your .env is kept)')
    .option('-y, --yes', 'accept the defaults and never prompt (does not imply --install or --git)')
    .addHelpText('after', EXAMPLES)
    .action(async (dir: string | undefined, flags: InitFlags) => {
      const { runInit } = await import('../init/index.js')
      await runInit(dir, flags)
    })
}
