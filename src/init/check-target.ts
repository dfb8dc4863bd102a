import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../errors.js'
import type { InitContext } from './context.js'
import { displayPath } from './display-path.js'
import type { ProjectFile } from './render.js'
import { holdsContent } from './write.js'

export type TargetKind = 'missing' | 'empty' | 'git-only' | 'non-empty' | 'not-a-folder'

/**
 * How the project reaches the target: `create` writes a new folder and renames it into place,
 * `fill` moves the files into an empty folder (or one holding only `.git`), `merge` replaces
 * file by file in a non-empty folder (`--force`).
 */
export type WriteMode = 'create' | 'fill' | 'merge'

// Sync on purpose: the directory prompt validates with it, and clack validators are synchronous.
export function inspectTarget(dir: string): TargetKind {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return 'missing'
    if (code === 'ENOTDIR') return 'not-a-folder'
    throw error
  }
  if (entries.length === 0) return 'empty'
  return entries.length === 1 && entries[0] === '.git' ? 'git-only' : 'non-empty'
}

/** Refuses a target that cannot take the project, and says how the project will be written. */
export function checkTarget(context: InitContext, files: readonly ProjectFile[]): WriteMode {
  const shown = displayPath(context.cwd, context.targetDir)
  switch (inspectTarget(context.targetDir)) {
    case 'missing':
      return 'create'
    case 'empty':
    case 'git-only':
      return 'fill'
    case 'not-a-folder':
      throw new UsageError(`${shown} is a file, not a folder; choose another target.`)
    case 'non-empty':
      if (!context.force) {
        throw new UsageError(
          `${shown} is not empty; choose an empty folder, or run again with --force to write into it ` +
            `(${forceWouldReplace(context.targetDir, files)}; it keeps your other files and any .env).`,
        )
      }
      refuseBlockedPaths(context.targetDir, shown, files)
      return 'merge'
  }
}

/** How many names the refusal lists before it only counts the rest. */
const LISTED_FILES = 10

/** What --force would replace: the user's files at the project's paths that differ from it. */
function forceWouldReplace(targetDir: string, files: readonly ProjectFile[]): string {
  const replaced = files
    .filter((file) => !file.keepExisting)
    .filter((file) => {
      const destination = path.join(targetDir, file.path)
      return isFile(destination) && !holdsContent(destination, file)
    })
    .map((file) => file.path)
  if (replaced.length === 0) return 'it would replace none of your files'
  const listed = replaced.slice(0, LISTED_FILES).join(', ')
  const more = replaced.length > LISTED_FILES ? ` and ${replaced.length - LISTED_FILES} more` : ''
  return `it would replace ${replaced.length === 1 ? '1 file' : `${replaced.length} files`}: ${listed}${more}`
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return false // Absent, or below a file: nothing of the user's to replace there.
  }
}

/** With --force, a user's file where the project needs a folder (or the reverse) stops everything up front. */
function refuseBlockedPaths(targetDir: string, shown: string, files: readonly ProjectFile[]): void {
  for (const file of files) {
    const segments = file.path.split('/')
    for (let depth = 1; depth <= segments.length; depth++) {
      const relative = segments.slice(0, depth).join('/')
      const stats = statSync(path.join(targetDir, relative), { throwIfNoEntry: false })
      if (!stats) break
      const needsFolder = depth < segments.length
      if (needsFolder !== stats.isDirectory()) {
        const found = stats.isDirectory() ? 'a folder' : 'a file'
        throw new UsageError(
          `cannot write ${file.path}: ${path.join(shown, relative)} is ${found}; move it away and run again.`,
        )
      }
    }
  }
}
