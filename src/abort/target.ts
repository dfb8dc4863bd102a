import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../errors.js'
import { locateProject } from '../project/root.js'

export const DEFAULT_BASE_URL = 'http://127.0.0.1:3000'

export interface Target {
  /** Origin plus any base path, without a trailing slash. */
  baseUrl: string
  /** Where the base URL came from, for the first line of the report. */
  origin: 'flag' | 'dev session' | 'default'
}

interface DevSession {
  pid?: unknown
  services?: Array<{ url?: unknown }>
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The first service of the `gatekeep dev` session running for the project around `cwd`, or null
 * when there is none. A file left behind by a dev that was killed outright names a dead pid and
 * is ignored.
 */
export function devSessionServiceUrl(cwd: string): string | null {
  const project = locateProject(cwd)
  if (project === null) return null
  const file = path.join(project.root, '.gatekeep', 'dev.json')
  if (!existsSync(file)) return null
  let session: DevSession
  try {
    session = JSON.parse(readFileSync(file, 'utf8')) as DevSession
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}; pass --url to choose the target.`)
  }
  if (typeof session.pid === 'number' && !processIsAlive(session.pid)) return null
  const url = session.services?.[0]?.url
  if (typeof url !== 'string') {
    throw new UsageError(`${file} names no service URL; pass --url to choose the target.`)
  }
  return url
}

export function resolveTarget(urlFlag: string | undefined, cwd: string): Target {
  if (urlFlag !== undefined) return { baseUrl: trimSlashes(urlFlag), origin: 'flag' }
  const devUrl = devSessionServiceUrl(cwd)
  if (devUrl !== null) return { baseUrl: trimSlashes(devUrl), origin: 'dev session' }
  return { baseUrl: DEFAULT_BASE_URL, origin: 'default' }
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '')
}
