import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]$/, '')
export const binPath = path.join(repoRoot, 'bin', 'gatekeep.js')
export const templateDir = path.join(repoRoot, 'templates', 'service')

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  cwd: string
  /** Added to a clean copy of this process's environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>
}

/**
 * Runs the built CLI as a user would, without a TTY. Its stdin is a pipe that stays open, so a
 * run that waited on stdin would never finish and fail its test's timeout.
 */
export function runGatekeep(args: readonly string[], options: RunOptions): Promise<RunResult> {
  return startGatekeep(args, options).result
}

/** Like runGatekeep, with the child process at hand to signal it. */
export function startGatekeep(
  args: readonly string[],
  { cwd, env = {} }: RunOptions,
): { child: ChildProcess; result: Promise<RunResult> } {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npm run build` before these tests.')
  }
  const childEnv: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' }
  // Set when the tests run under npm; each test chooses the package manager it simulates.
  delete childEnv.npm_config_user_agent
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key]
    else childEnv[key] = value
  }
  const child = spawn(process.execPath, [binPath, ...args], { cwd, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const result = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      child.stdin.destroy()
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, result }
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
