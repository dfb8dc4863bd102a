import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// This file sits at <root>/src/init or <root>/dist/init: the package root is two levels up.
// Node resolves symlinks for modules, so a linked gatekeep (npm link) is seen in its clone.
export const gatekeepRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]$/, '')

export const serviceTemplateDir = path.join(gatekeepRoot, 'templates', 'service')

export function gatekeepVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(gatekeepRoot, 'package.json'), 'utf8')) as {
    version: string
  }
  return manifest.version
}

/** Where the running gatekeep was installed from. */
export type GatekeepOrigin =
  | { kind: 'registry' }
  /** A packed tarball, or a folder: a clone, or a package installed from a folder. Absolute. */
  | { kind: 'path'; path: string; clone: boolean }
  /** A git repository or a tarball on a web server, as npm recorded it. */
  | { kind: 'url'; url: string }

/** What the hidden lockfile and package-lock.json record of each installed package. */
interface Lockfile {
  packages?: Record<string, { resolved?: unknown } | undefined>
}

// npm keeps the hidden lockfile in step with node_modules; package-lock.json may be older or absent.
const LOCKFILES = ['node_modules/.package-lock.json', 'npm-shrinkwrap.json', 'package-lock.json']

/** A registry tarball, as npm records it: <registry>/<name>/-/<name>-<version>.tgz. */
const REGISTRY_TARBALL = /\/gatekeep\/-\/gatekeep-[^/]+\.tgz$/

/**
 * Where the gatekeep at `root` came from. Outside any node_modules folder it runs from a clone
 * (or a folder linked with npm link). Inside one, npm's lockfile of the installing project
 * says: its `resolved` is a registry URL, a `file:` path (a tarball or a folder) relative to
 * that project, or a git or tarball URL; npm leaves `resolved` out only for registry packages.
 * With no lockfile (a global install, pnpm, yarn, bun) the registry is the one source left.
 */
export function gatekeepOrigin(root: string): GatekeepOrigin {
  const segments = root.split(/[\\/]/)
  const installed = segments.indexOf('node_modules')
  if (installed === -1) return { kind: 'path', path: root, clone: true }
  const installRoot = segments.slice(0, installed).join(path.sep) || path.sep
  const key = segments.slice(installed).join('/')
  const resolved = readResolved(installRoot, key)
  if (resolved === undefined || REGISTRY_TARBALL.test(resolved)) return { kind: 'registry' }
  if (resolved.startsWith('file:')) {
    return { kind: 'path', path: path.resolve(installRoot, resolved.slice('file:'.length)), clone: false }
  }
  return { kind: 'url', url: resolved }
}

function readResolved(installRoot: string, key: string): string | undefined {
  for (const lockfile of LOCKFILES) {
    let parsed: Lockfile
    try {
      parsed = JSON.parse(readFileSync(path.join(installRoot, lockfile), 'utf8')) as Lockfile
    } catch {
      continue // Absent, or not npm's: the next one may say.
    }
    const entry = parsed.packages?.[key]
    if (entry) return typeof entry.resolved === 'string' ? entry.resolved : undefined
  }
  return undefined
}

export interface GatekeepDependency {
  /** The devDependency spec a new project in that folder gets. */
  spec: string
  /** One line for the person when it is not the registry's, else null. */
  note: string | null
}

/**
 * How a project in `projectDir` depends on the gatekeep that writes it, so that its install
 * fetches gatekeep from where this one came from: the running version's range from the
 * registry, else the same tarball, folder or URL (a path relative to the project where it can be).
 */
export function gatekeepDependency(origin: GatekeepOrigin, version: string, projectDir: string): GatekeepDependency {
  switch (origin.kind) {
    case 'registry':
      return { spec: `^${version}`, note: null }
    case 'url':
      return { spec: origin.url, note: `gatekeep comes from ${origin.url}, not the registry: the project installs it from there.` }
    case 'path': {
      const relative = path.relative(projectDir, origin.path)
      // Another drive (Windows) has no relative path.
      const shown = path.isAbsolute(relative) ? origin.path : relative.split(path.sep).join('/')
      const where = origin.clone ? `the gatekeep clone at ${shown}` : shown
      const gone = existsSync(origin.path)
        ? ''
        : `; it is not there any more: put it back, or run \`npm install -D <path to a gatekeep .tgz>\` in the project`
      return {
        spec: `file:${shown}`,
        note: `gatekeep is not from the registry: the project installs it from ${where}${gone}.`,
      }
    }
  }
}
