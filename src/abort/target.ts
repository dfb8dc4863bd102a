import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { readDotEnv } from '../dev/dot-env.js'
import { UsageError } from '../errors.js'
import { parsePort } from '../options.js'
import { locateProject, type Project } from '../project/root.js'
import { DEFAULT_SETTINGS, readSetting, SETTING_VARIABLES, type Env } from '../project/settings.js'

export const DEFAULT_BASE_URL = `http://127.0.0.1:${DEFAULT_SETTINGS.port}`

export interface Target {
  /** Origin plus any base path, without a trailing slash. */
  baseUrl: string
  /** Why this target, for the first line of the report; null for --url, chosen by the user. */
  reason: string | null
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
 * The first service of the `gatekeep dev` session running for `project`, or null
 * when there is none. A file left behind by a dev that was killed outright names a dead pid and
 * is ignored.
 */
export function devSessionServiceUrl(project: Project): string | null {
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

/**
 * `--url`, else the running dev session, else where `npm start` listens in this project (its
 * port read as the service reads it), else the default outside any project.
 */
export function resolveTarget(urlFlag: string | undefined, cwd: string, env: Env): Target {
  if (urlFlag !== undefined) return { baseUrl: trimSlashes(urlFlag), reason: null }
  const project = locateProject(cwd)
  if (project === null) return { baseUrl: DEFAULT_BASE_URL, reason: 'the default: no gatekeep project here, and no --url' }
  const devUrl = devSessionServiceUrl(project)
  if (devUrl !== null) return { baseUrl: trimSlashes(devUrl), reason: 'the running gatekeep dev session, from .gatekeep/dev.json' }
  const sources = { env, dotEnv: readDotEnv(project.root), config: project.config }
  const port = readSetting(sources, SETTING_VARIABLES.port, 'port', parsePort) ?? {
    value: DEFAULT_SETTINGS.port,
    from: "the service's default",
  }
  return {
    baseUrl: `http://127.0.0.1:${port.value}`,
    reason: `no gatekeep dev session running: the project's port, from ${port.from}`,
  }
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '')
}
