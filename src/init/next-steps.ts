import path from 'node:path'
import { colors } from '../ui.js'
import type { WriteMode } from './check-target.js'
import type { InitContext } from './context.js'
import { displayPath, shellQuote } from './display-path.js'
import type { WriteReport } from './write.js'

/** What was written, what --force replaced or kept, and where gatekeep itself will come from. */
export function printSummary(context: InitContext, mode: WriteMode, report: WriteReport, gatekeepNote: string | null): void {
  const shown = displayPath(context.cwd, context.targetDir)
  const lines = mode === 'merge' ? mergeSummary(shown, report) : [`${colors.green('Created')} ${describeProject(context, shown)}`]
  for (const file of report.kept) lines.push(`Kept your ${file} (it holds your webhook secret).`)
  if (gatekeepNote) lines.push(gatekeepNote)
  process.stdout.write(`${lines.join('\n')}\n`)
}

/** The folder, and the package name unless the folder's name says it. */
function describeProject(context: InitContext, shown: string): string {
  const folder = folderName(shown)
  return shown !== '.' && path.basename(context.targetDir) === context.name ? folder : `${folder} (package ${context.name})`
}

function mergeSummary(shown: string, report: WriteReport): string[] {
  const details = [
    report.added.length > 0 ? `added ${files(report.added.length)}` : '',
    report.unchanged.length > 0 ? `${files(report.unchanged.length)} already matched` : '',
  ].filter(Boolean)
  const tail = details.length > 0 ? ` (${details.join(', ')})` : ''
  if (report.replaced.length === 0) return [`${colors.green('Replaced')} no file in ${folderName(shown)}${tail}.`]
  return [
    `${colors.yellow('Replaced')} ${files(report.replaced.length)} in ${folderName(shown)}${tail}:`,
    ...report.replaced.map((file) => `  ${file}`),
  ]
}

function folderName(shown: string): string {
  return shown === '.' ? './' : `${shown}/`
}

function files(count: number): string {
  return count === 1 ? '1 file' : `${count} files`
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
