import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// This file sits at <root>/src/init or <root>/dist/init: the package root is two levels up.
export const gatekeepRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]$/, '')

export const serviceTemplateDir = path.join(gatekeepRoot, 'templates', 'service')

export function gatekeepVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(gatekeepRoot, 'package.json'), 'utf8')) as {
    version: string
  }
  return manifest.version
}

/**
 * How a new project should depend on the gatekeep that wrote it: the running version's range
 * when gatekeep was installed (it then lives in a node_modules folder), else the local clone
 * itself, so a project generated while developing gatekeep installs and runs against it.
 */
export function gatekeepDependencySpec(root: string, version: string): string {
  return root.split(/[\\/]/).includes('node_modules') ? `^${version}` : `file:${root}`
}
