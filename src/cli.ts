import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { isCliError } from './errors.js'
import { colors } from './ui.js'
import { registerDev } from './commands/dev.js'
import { registerInit } from './commands/init.js'
import { registerSimulateAbort } from './commands/simulate-abort.js'
import { registerTrigger } from './commands/trigger.js'

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

registerInit(program)
registerDev(program)
registerSimulateAbort(program)
registerTrigger(program)

// Commander's own refusals (unknown option, bad value) read like every other failure.
for (const command of [program, ...program.commands]) {
  command.configureOutput({ outputError: (message) => printError(command, usageMessage(command, message)) })
}

/** The command whose action runs, for the form of its errors. */
let running: Command = program
program.hook('preAction', (_program, actionCommand) => {
  running = actionCommand
})

/** Commander's message on one line, ending with where the command's usage is. */
function usageMessage(command: Command, message: string): string {
  const text = message
    .trim()
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean (.+)\?\)$/, ' (did you mean $1?)')
    .replace(/\.$/, '')
  const help = command === program ? 'gatekeep --help' : `gatekeep ${command.name()} --help`
  return `${text}; see \`${help}\`.`
}

/**
 * `--json` output is read by programs: then the error is one JSON line, `{"error": "..."}`, on
 * stderr, so that stdout holds the report alone (a failed verdict has both). Read from the raw
 * arguments, since commander may refuse a value before it reaches `--json`.
 */
function wantsJson(command: Command): boolean {
  if (!command.options.some((option) => option.long === '--json')) return false
  const args = process.argv.slice(2)
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).includes('--json')
}

function printError(command: Command, message: string): void {
  process.stderr.write(wantsJson(command) ? `${JSON.stringify({ error: message })}\n` : `${colors.red('error:')} ${message}\n`)
}

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
    printError(running, error.message)
    if (verbose() && error.stack) process.stderr.write(`${error.stack}\n`)
    process.exitCode = error.exitCode
  } else {
    const message = error instanceof Error ? error.message : String(error)
    const details = verbose() && error instanceof Error && error.stack
    printError(running, details ? message : `${message} (run again with --verbose for details)`)
    if (details) process.stderr.write(`${error.stack}\n`)
    process.exitCode = 1
  }
}
