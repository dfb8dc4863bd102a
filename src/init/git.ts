import { colors } from '../ui.js'
import type { InitContext } from './context.js'

export const FIRST_COMMIT_MESSAGE = 'Initial commit from gatekeep'

/**
 * `git init` and a first commit. Git is a convenience here: when it is missing or cannot commit
 * (no identity configured, a failing hook), a warning says so and init still succeeds.
 */
export async function initGitRepository(context: InitContext): Promise<void> {
  const { execa } = await import('execa')
  const git = (...args: string[]) => execa('git', args, { cwd: context.targetDir, stdin: 'ignore' })
  try {
    await git('init')
  } catch (error) {
    const missing = (error as { code?: string }).code === 'ENOENT'
    warn(missing ? 'git was not found; skipped --git.' : `git init failed (${gitSays(error)}); skipped --git.`)
    return
  }
  try {
    await git('add', '-A')
    await git('commit', '--quiet', '-m', FIRST_COMMIT_MESSAGE)
  } catch (error) {
    warn(`git could not make the first commit (${gitSays(error)}); the repository is created, commit when ready.`)
    return
  }
  process.stdout.write('Created a git repository with a first commit.\n')
}

function gitSays(error: unknown): string {
  const { stderr, shortMessage } = error as { stderr?: string; shortMessage?: string }
  const firstLine = (stderr || shortMessage || String(error)).trim().split('\n')[0] ?? ''
  return firstLine.replace(/\.$/, '')
}

function warn(message: string): void {
  process.stderr.write(`${colors.yellow('warning:')} ${message}\n`)
}
