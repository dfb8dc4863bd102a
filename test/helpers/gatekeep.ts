import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { spawnCaptured, type Captured, type Spawned } from './spawn.js'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]$/, '')
export const binPath = path.join(repoRoot, 'bin', 'gatekeep.js')
export const templateDir = path.join(repoRoot, 'templates', 'service')

export interface RunOptions {
  cwd: string
  /** Changes to a clean copy of this process's environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>
  /** On a pseudo-terminal: see terminal.ts for where there is one. */
  terminal?: boolean
  /** When this test ends, it is killed if it still runs. */
  t?: TestContext
}

/**
 * Runs the built CLI as a user would, without a TTY unless `terminal`, to its end. Its stdin is
 * a pipe that stays open, so a run that waited on stdin would never finish and fail its test's
 * timeout.
 */
export function runGatekeep(args: readonly string[], options: RunOptions): Promise<Captured> {
  return startGatekeep(args, options).result
}

/** Like runGatekeep, running: to wait for its lines, type keys or signal it. */
export function startGatekeep(args: readonly string[], { cwd, env = {}, terminal, t }: RunOptions): Spawned {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npm run build` before these tests.')
  }
  // npm sets the user agent when the tests run under it; each test chooses the package manager it simulates.
  const clean = { NO_COLOR: '1', npm_config_user_agent: undefined }
  return spawnCaptured(process.execPath, [binPath, ...args], { cwd, env: { ...clean, ...env }, terminal, t })
}

/** Files of the template that only a `--store redis` project gets. */
export const REDIS_ONLY_FILES = ['src/store/redis.ts', 'test/redis-store.test.ts']

// What the template turns into: its files, read from disk, minus what init skips, renamed.
export function expectedProjectFiles(store: 'memory' | 'redis' = 'memory'): string[] {
  const skippedFolders = new Set(['node_modules', 'dist', '.gatekeep'])
  const files: string[] = ['.env']
  const visit = (relativeDir: string) => {
    for (const entry of readdirSync(path.join(templateDir, relativeDir), { withFileTypes: true })) {
      const relative = relativeDir ? `${relativeDir}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!skippedFolders.has(entry.name)) visit(relative)
      } else if (entry.name !== '.env' && !entry.name.endsWith('.tsbuildinfo')) {
        files.push(entry.name === '_gitignore' ? `${relativeDir ? `${relativeDir}/` : ''}.gitignore` : relative)
      }
    }
  }
  visit('')
  return files.filter((file) => store === 'redis' || !REDIS_ONLY_FILES.includes(file)).sort()
}
