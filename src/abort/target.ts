import { readDotEnv } from '../dev/dot-env.js'
import { UsageError } from '../errors.js'
import { parsePort } from '../options.js'
import { devStatePath, isRunning, readDevState } from '../project/contract.js'
import { locateProject, type Project } from '../project/root.js'
import { DEFAULT_SETTINGS, readSetting, SETTING_VARIABLES, type Env } from '../project/settings.js'

export const DEFAULT_BASE_URL = `http://127.0.0.1:${DEFAULT_SETTINGS.port}`

export interface Target {
  /** Origin plus any base path, without a trailing slash. */
  baseUrl: string
  /** Why this target, for the first line of the report; null for --url, chosen by the user. */
  reason: string | null
}

/**
 * The first service of the `gatekeep dev` session running for `project`, or null when there is
 * none. A file left behind by a dev that was killed outright names a dead pid and is ignored.
 */
export function devSessionServiceUrl(project: Project): string | null {
  const file = devStatePath(project.root)
  const session = readDevState(file)
  if (session === null || !isRunning(session.pid)) return null
  const url = session.services[0]?.url
  if (url === undefined) {
    throw new UsageError(`the gatekeep dev session (pid ${session.pid}) has no service listening yet (${file}); wait for it, or pass --url.`)
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
