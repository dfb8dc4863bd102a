import { WorkError } from '../errors.js'
import { colors } from '../ui.js'
import type { InitContext } from './context.js'
import { displayPath, shellQuote } from './display-path.js'

/** Runs the package manager's install in the new project; a failure leaves the project as written. */
export async function installDependencies(context: InitContext): Promise<void> {
  const { execa } = await import('execa')
  const manager = context.packageManager.name
  const options = { cwd: context.targetDir, stdin: 'ignore' } as const
  try {
    if (context.interactive) {
      const { spinner } = await import('@clack/prompts')
      const progress = spinner()
      progress.start(`Installing dependencies with ${manager}`)
      try {
        await execa(manager, ['install'], { ...options, all: true })
      } catch (error) {
        progress.error(`${manager} install failed`)
        const output = (error as { all?: string }).all?.trim()
        if (output) process.stderr.write(`${colors.dim(output)}\n`)
        throw error
      }
      progress.stop(`Dependencies installed with ${manager}`)
    } else {
      process.stdout.write(`Installing dependencies with ${manager}...\n`)
      await execa(manager, ['install'], { ...options, stdout: 'inherit', stderr: 'inherit' })
    }
  } catch (error) {
    const retry = `cd ${shellQuote(displayPath(context.cwd, context.targetDir))} && ${manager} install`
    throw new WorkError(
      `${manager} install ${failureReason(error, manager)}; the project is written, retry with: ${retry}`,
    )
  }
}

function failureReason(error: unknown, command: string): string {
  const { code, exitCode } = error as { code?: string; exitCode?: number }
  if (code === 'ENOENT') return `could not start (${command} was not found)`
  return exitCode === undefined ? 'failed' : `failed with exit code ${exitCode}`
}
