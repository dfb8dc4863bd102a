import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { lstat, mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { WorkError } from '../errors.js'
import type { WriteMode } from './check-target.js'
import { InitCancelled } from './context.js'
import type { ProjectFile } from './render.js'

export interface WriteReport {
  /** Files that were not there before, as project paths. */
  added: string[]
  /** User files the project replaced (--force), as project paths. */
  replaced: string[]
  /** User files left as they were because they hold the user's own values. */
  kept: string[]
  /** Files already there with the very content the project has (--force): left untouched. */
  unchanged: string[]
}

/** The file at `destination` already holds what the project would write there. */
export function holdsContent(destination: string, file: ProjectFile): boolean {
  let existing: Buffer
  try {
    existing = readFileSync(destination)
  } catch {
    return false // Absent or unreadable: written (or refused) like any other.
  }
  const wanted = typeof file.content === 'string' ? Buffer.from(file.content) : file.content
  return existing.equals(wanted)
}

/** Undoing a failed write failed too: these leftovers need a person's attention. */
class UndoIncomplete extends Error {
  constructor(
    readonly original: unknown,
    readonly leftovers: string[],
  ) {
    super('undo incomplete')
  }
}

/**
 * Writes every file or none: whatever fails, or an abort of `signal` (Ctrl-C), the target is
 * put back as it was and no temporary file or folder is left behind.
 */
export async function writeProject(
  targetDir: string,
  mode: WriteMode,
  files: readonly ProjectFile[],
  signal: AbortSignal = new AbortController().signal,
): Promise<WriteReport> {
  // One random tag per run names every temporary path, so none can clash with a user's file.
  const tag = `gatekeep-${randomBytes(4).toString('hex')}`
  try {
    switch (mode) {
      case 'create':
        return await createFolder(targetDir, files, tag, signal)
      case 'fill':
        return await fillFolder(targetDir, files, tag, signal)
      case 'merge':
        return await mergeIntoFolder(targetDir, files, tag, signal)
    }
  } catch (error) {
    if (error instanceof UndoIncomplete) {
      throw new WorkError(
        `could not write the project (${describe(error.original)}), nor undo it: ${error.leftovers.join('; ')}.`,
      )
    }
    if (signal.aborted) throw new InitCancelled()
    throw new WorkError(`could not write the project (${describe(error)}); ${targetDir} was left as it was.`)
  }
}

/** A new folder: built beside the target (same filesystem) and renamed into place at once. */
async function createFolder(
  targetDir: string,
  files: readonly ProjectFile[],
  tag: string,
  signal: AbortSignal,
): Promise<WriteReport> {
  const parent = path.dirname(targetDir)
  const firstCreatedParent = await mkdir(parent, { recursive: true })
  const staging = stagingFolder(targetDir, tag)
  try {
    await mkdir(staging)
    await writeFiles(staging, files, signal)
    signal.throwIfAborted()
    await rename(staging, targetDir)
  } catch (error) {
    return rollBack(error, [() => rm(firstCreatedParent ?? staging, { recursive: true, force: true })])
  }
  return newFilesReport(files)
}

/**
 * An existing empty folder (or one holding only `.git`) keeps its identity, so a shell sitting
 * in it still sees the project: the files are built beside it and their top entries moved in.
 */
async function fillFolder(
  targetDir: string,
  files: readonly ProjectFile[],
  tag: string,
  signal: AbortSignal,
): Promise<WriteReport> {
  const staging = stagingFolder(targetDir, tag)
  const moved: string[] = []
  try {
    await mkdir(staging)
    await writeFiles(staging, files, signal)
    for (const entry of await readdir(staging)) {
      signal.throwIfAborted()
      await rename(path.join(staging, entry), path.join(targetDir, entry))
      moved.push(entry)
    }
    await rmdir(staging)
  } catch (error) {
    return rollBack(error, [
      ...moved.reverse().map((entry) => () => rename(path.join(targetDir, entry), path.join(staging, entry))),
      () => rm(staging, { recursive: true, force: true }),
    ])
  }
  return newFilesReport(files)
}

/**
 * --force into a non-empty folder: file by file, each written under a temporary name and
 * renamed over the old one, which waits under a backup name until every file is in place.
 */
async function mergeIntoFolder(
  targetDir: string,
  files: readonly ProjectFile[],
  tag: string,
  signal: AbortSignal,
): Promise<WriteReport> {
  const report: WriteReport = { added: [], replaced: [], kept: [], unchanged: [] }
  const backups: string[] = []
  // Each change pushes the step that reverses it; a failure runs them from the last one back.
  const undoSteps: (() => Promise<unknown>)[] = []
  try {
    for (const file of files) {
      signal.throwIfAborted()
      const destination = path.join(targetDir, file.path)
      const existed = await exists(destination)
      if (existed && file.keepExisting) {
        report.kept.push(file.path)
        continue
      }
      if (existed && holdsContent(destination, file)) {
        report.unchanged.push(file.path)
        continue
      }
      const createdFolder = await mkdir(path.dirname(destination), { recursive: true })
      if (createdFolder) undoSteps.push(() => rm(createdFolder, { recursive: true, force: true }))
      const temporary = `${destination}.${tag}.tmp`
      undoSteps.push(() => rm(temporary, { force: true }))
      await writeFile(temporary, file.content, { mode: file.mode, flag: 'wx' })
      if (existed) {
        const backup = `${destination}.${tag}.bak`
        await rename(destination, backup)
        undoSteps.push(() => rename(backup, destination))
        backups.push(backup)
        report.replaced.push(file.path)
      } else {
        undoSteps.push(() => rm(destination, { force: true }))
        report.added.push(file.path)
      }
      await rename(temporary, destination)
    }
  } catch (error) {
    return rollBack(error, undoSteps.reverse())
  }
  for (const backup of backups) await rm(backup, { force: true })
  return report
}

function newFilesReport(files: readonly ProjectFile[]): WriteReport {
  return { added: files.map((file) => file.path), replaced: [], kept: [], unchanged: [] }
}

function stagingFolder(targetDir: string, tag: string): string {
  return path.join(path.dirname(targetDir), `.${path.basename(targetDir)}.${tag}`)
}

async function writeFiles(root: string, files: readonly ProjectFile[], signal: AbortSignal): Promise<void> {
  const folders = new Set(files.map((file) => path.dirname(path.join(root, file.path))))
  for (const folder of folders) await mkdir(folder, { recursive: true })
  signal.throwIfAborted()
  // Side by side for speed, and every write settled before a failure is reported, so the undo
  // that follows never races a write still in flight.
  const writes = await Promise.allSettled(
    files.map((file) =>
      writeFile(path.join(root, file.path), file.content, { mode: file.mode, flag: 'wx', signal }),
    ),
  )
  for (const write of writes) if (write.status === 'rejected') throw write.reason
}

/** Runs every undo step, even after one fails, then rethrows what went wrong first. */
async function rollBack(error: unknown, steps: readonly (() => Promise<unknown>)[]): Promise<never> {
  const leftovers: string[] = []
  for (const step of steps) {
    try {
      await step()
    } catch (undoError) {
      leftovers.push(describe(undoError))
    }
  }
  throw leftovers.length > 0 ? new UndoIncomplete(error, leftovers) : error
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
