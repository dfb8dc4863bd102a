import path from 'node:path'
import { UsageError } from '../errors.js'
import { DEFAULT_SETTINGS } from '../project/settings.js'
import { inspectTarget } from './check-target.js'
import type { InitContext, InitEnvironment, InitFlags } from './context.js'
import { packageNameFromFolder, packageNameProblem } from './package-name.js'

export const DEFAULT_DIR = 'gatekeep-service'

/**
 * Settles every value of the run: flags first, then (on a TTY, without -y) a prompt for each
 * missing one, else the defaults. Refuses bad values before anything is written.
 */
export async function resolveOptions(
  dirArgument: string | undefined,
  flags: InitFlags,
  environment: InitEnvironment,
): Promise<InitContext> {
  const { cwd, interactive, packageManager } = environment
  const store = flags.store ?? DEFAULT_SETTINGS.store
  if (flags.port === flags.providerPort) {
    throw new UsageError(
      `--port and --provider-port are both ${flags.port}: the service and the mock provider each need their own port; pass different ones.`,
    )
  }
  if (flags.name !== undefined) {
    const problem = packageNameProblem(flags.name)
    if (problem) throw new UsageError(`invalid --name "${flags.name}": ${problem}.`)
  }

  const force = flags.force ?? false
  const missing = [dirArgument, flags.name, flags.store, flags.install].includes(undefined)
  const prompts = interactive && !flags.yes && missing ? await import('./prompts.js') : undefined
  prompts?.introduce()

  const dir =
    dirArgument ??
    (await prompts?.askDirectory(DEFAULT_DIR, (answer) => targetProblem(path.resolve(cwd, answer), force))) ??
    DEFAULT_DIR
  const targetDir = path.resolve(cwd, dir)

  const derivedName = packageNameFromFolder(path.basename(targetDir))
  const usableDerivedName = packageNameProblem(derivedName) ? undefined : derivedName
  const name =
    flags.name ??
    (await prompts?.askName(usableDerivedName, (answer) => packageNameProblem(answer))) ??
    usableDerivedName
  if (name === undefined) {
    throw new UsageError(`cannot make a valid package name from "${path.basename(targetDir)}"; pass one with --name.`)
  }

  return {
    ...environment,
    targetDir,
    name,
    settings: {
      port: flags.port,
      providerPort: flags.providerPort,
      delay: flags.delay,
      store: flags.store ?? (await prompts?.askStore()) ?? store,
    },
    install: flags.install ?? (await prompts?.askInstall(packageManager.name)) ?? false,
    git: flags.git ?? false,
    force,
  }
}

/** Why the directory prompt should not accept a target, in the prompt's own words. */
function targetProblem(targetDir: string, force: boolean): string | undefined {
  const kind = inspectTarget(targetDir)
  if (kind === 'not-a-folder') return 'That is a file; choose a folder.'
  if (kind === 'non-empty' && !force) return 'That folder is not empty; choose another, or run again with --force.'
  return undefined
}
