import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { isCliError } from './errors.js'
import { colors } from './ui.js'
import { registerDev } from './commands/dev.js'
import { registerInit } from './commands/init.js'
import { registerSimulateAbort } from './commands/simulate-abort.js'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
}

const program = new Command('gatekeep')
  .description('Scaffold and run Fastify services that wait for an outside handshake before serving customers.')
  .version(version, '-v, --version')
  .option('--verbose', 'print stack traces on failure')
  .option('--no-color', 'never color the output')
  .showSuggestionAfterError()
  .exitOverride()
  .configureOutput({
    outputError: (message, write) => write(colors.red(message)),
  })

registerInit(program)
registerDev(program)
registerSimulateAbort(program)

function verbose(): boolean {
  return Boolean(program.opts().verbose || process.env.DEBUG)
}

try {
  await program.parseAsync()
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version end here with 0; every other commander error is a wrong call.
    process.exitCode = error.exitCode === 0 ? 0 : 2
  } else if (isCliError(error)) {
    process.stderr.write(`${colors.red('error:')} ${error.message}\n`)
    if (verbose() && error.stack) process.stderr.write(`${error.stack}\n`)
    process.exitCode = error.exitCode
  } else {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`${colors.red('error:')} ${message}\n`)
    process.stderr.write(
      verbose() && error instanceof Error && error.stack
        ? `${error.stack}\n`
        : 'Run again with --verbose for details.\n',
    )
    process.exitCode = 1
  }
}
