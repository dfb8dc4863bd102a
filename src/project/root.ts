import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../errors.js'

export interface Project {
  root: string
  /** The `"gatekeep"` object of its package.json, not yet validated. */
  config: Record<string, unknown>
}

/** The nearest folder, from `cwd` upward, whose package.json has a `"gatekeep"` object; null if none. */
export function locateProject(cwd: string): Project | null {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const packageJsonPath = path.join(dir, 'package.json')
    if (existsSync(packageJsonPath)) {
      const config = readGatekeepConfig(packageJsonPath)
      if (config) return { root: dir, config }
    }
    if (path.dirname(dir) === dir) return null
  }
}

/** Like `locateProject`, for commands that need a project: none is a wrong call. */
export function findProject(cwd: string): Project {
  const project = locateProject(cwd)
  if (project) return project
  throw new UsageError(
    `no gatekeep project in ${cwd} or above it (a package.json with a "gatekeep" section); run \`gatekeep init\` to create one.`,
  )
}

function readGatekeepConfig(packageJsonPath: string): Record<string, unknown> | null {
  let manifest: unknown
  try {
    manifest = JSON.parse(readFileSync(packageJsonPath, 'utf8'))
  } catch (error) {
    throw new UsageError(`cannot read ${packageJsonPath}: ${(error as Error).message}`)
  }
  const config = (manifest as { gatekeep?: unknown } | null)?.gatekeep
  return typeof config === 'object' && config !== null && !Array.isArray(config) ? (config as Record<string, unknown>) : null
}
