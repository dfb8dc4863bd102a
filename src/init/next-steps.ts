import { colors } from '../ui.js'
import type { InitContext } from './context.js'
import { displayPath, shellQuote } from './display-path.js'
import type { WriteReport } from './write.js'

/** What was written, what --force replaced or kept, and the commands to type next. */
export function printSummary(context: InitContext, report: WriteReport): void {
  const lines = [`${colors.green('Created')} ${context.name} in ${displayPath(context.cwd, context.targetDir)}`]
  if (report.replaced.length > 0) {
    lines.push(`Replaced ${report.replaced.length} existing file(s):`, ...report.replaced.map((file) => `  ${file}`))
  }
  for (const file of report.kept) lines.push(`Kept your ${file} (it holds your webhook secret).`)
  process.stdout.write(`${lines.join('\n')}\n`)
}

export function printNextSteps(context: InitContext, installed: boolean): void {
  const shown = displayPath(context.cwd, context.targetDir)
  const commands = [
    ...(shown === '.' ? [] : [`cd ${shellQuote(shown)}`]),
    ...(installed ? [] : [`${context.packageManager.name} install`]),
    context.packageManager.runScript('dev'),
  ]
  process.stdout.write(`\nNext steps:\n${commands.map((command) => `  ${colors.cyan(command)}`).join('\n')}\n`)
}
