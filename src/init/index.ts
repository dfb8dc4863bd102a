import { constants } from 'node:os'
import { generateWebhookSecret } from '../project/env-file.js'
import { interactive } from '../ui.js'
import { checkTarget, type WriteMode } from './check-target.js'
import { InitCancelled, type InitFlags } from './context.js'
import { gatekeepDependency, gatekeepOrigin, gatekeepRoot, gatekeepVersion, serviceTemplateDir } from './gatekeep-package.js'
import { printNextSteps, printSummary } from './next-steps.js'
import { detectPackageManager } from './package-manager.js'
import type { ProjectFile } from './render.js'
import { renderProject } from './render.js'
import { resolveOptions } from './resolve-options.js'
import { writeProject, type WriteReport } from './write.js'

/** `gatekeep init`: each step in turn, over the context the first one settles. */
export async function runInit(dirArgument: string | undefined, flags: InitFlags): Promise<void> {
  try {
    const context = await resolveOptions(dirArgument, flags, {
      cwd: process.cwd(),
      interactive: interactive(),
      packageManager: detectPackageManager(process.env.npm_config_user_agent),
    })
    const gatekeep = gatekeepDependency(gatekeepOrigin(gatekeepRoot), gatekeepVersion(), context.targetDir)
    const files = renderProject(serviceTemplateDir, {
      name: context.name,
      settings: context.settings,
      gatekeepDependency: gatekeep.spec,
      webhookSecret: generateWebhookSecret(),
    })
    const mode = checkTarget(context, files)
    const report = await writeUnlessInterrupted(context.targetDir, mode, files)
    printSummary(context, mode, report, gatekeep.note)
    // Loaded on demand, like execa behind them, to keep a plain init fast. The project is
    // written either way, so a failed install still gets the --git asked for.
    const installFailure = context.install
      ? await import('./install.js').then(({ installDependencies }) => installDependencies(context)).then(
          () => undefined,
          (error: unknown) => error,
        )
      : undefined
    if (context.git) await import('./git.js').then(({ initGitRepository }) => initGitRepository(context))
    if (installFailure) throw installFailure
    printNextSteps(context, context.install)
  } catch (error) {
    if (!(error instanceof InitCancelled)) throw error
    process.stderr.write('Cancelled; nothing was written.\n')
    process.exitCode = error.exitCode
  }
}

const INTERRUPTIONS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** Ctrl-C (or a kill) while writing undoes the write before the process ends with 128 + signal. */
async function writeUnlessInterrupted(
  targetDir: string,
  mode: WriteMode,
  files: readonly ProjectFile[],
): Promise<WriteReport> {
  const controller = new AbortController()
  let caught: NodeJS.Signals | undefined
  const interrupt = (signal: NodeJS.Signals) => {
    caught ??= signal
    controller.abort()
  }
  for (const signal of INTERRUPTIONS) process.on(signal, interrupt)
  let report: WriteReport
  try {
    report = await writeProject(targetDir, mode, files, controller.signal)
  } catch (error) {
    throw error instanceof InitCancelled && caught ? new InitCancelled(128 + constants.signals[caught]) : error
  } finally {
    for (const signal of INTERRUPTIONS) process.off(signal, interrupt)
  }
  // The signal came after the last point where the write could be undone: the project is
  // whole, so let the signal end the process as it would have without us.
  if (caught) process.kill(process.pid, caught)
  return report
}
