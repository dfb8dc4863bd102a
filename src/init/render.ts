import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { renderEnvFile } from '../project/env-file.js'
import type { ProjectSettings } from '../project/settings.js'
import { renderDeploymentFiles } from './deployment.js'

export interface ProjectFile {
  /** Relative to the project root, with `/` separators. */
  path: string
  content: Uint8Array | string
  mode: number
  /** An existing file at this path belongs to the user and stays as it is, even with --force. */
  keepExisting?: boolean
}

export interface RenderValues {
  name: string
  settings: ProjectSettings
  /** The version range or `file:` path the project's devDependency on gatekeep points at. */
  gatekeepDependency: string
  webhookSecret: string
}

/** The name the template carries, replaced by the project's own. */
export const TEMPLATE_PACKAGE_NAME = 'gatekeep-service'

// npm never packs a .gitignore, so the template ships it under another name.
const RENAMES: Readonly<Record<string, string>> = { _gitignore: '.gitignore' }

/**
 * The template holds both stores; a project gets the one it was generated with. Only the store
 * module's export line differs; the other store's files and dependency are left out.
 */
const STORE_MODULE = 'src/store/index.ts'
const STORE_MODULE_FOR_REDIS = `// The store this project was generated with: Redis, so several instances share one handshake
// (a lock picks the instance that calls the provider; the key is published to all of them).
export { createRedisStore as createStore } from './redis.js'
`
const REDIS_ONLY_FILES = new Set(['src/store/redis.ts', 'test/redis-store.test.ts'])
const REDIS_ONLY_DEPENDENCY = 'ioredis'

const DOCKERFILE = 'Dockerfile'
const EXPOSE_LINE = /^EXPOSE \d+$/m

// Leftovers of working on the template itself, never part of a new project.
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', '.gatekeep'])
function isSkippedFile(name: string): boolean {
  return name === '.env' || name.endsWith('.tsbuildinfo')
}

/**
 * The template's files, renamed as they will be written, in a stable order. Read synchronously:
 * a few dozen small files load faster that way than through the thread pool.
 */
export function readTemplate(templateDir: string): ProjectFile[] {
  const files: ProjectFile[] = []
  function visit(relativeDir: string): void {
    const entries = readdirSync(path.join(templateDir, relativeDir), { withFileTypes: true })
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const within = (name: string) => (relativeDir === '' ? name : `${relativeDir}/${name}`)
    for (const entry of entries) {
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) visit(within(entry.name))
      } else if (entry.isFile() && !isSkippedFile(entry.name)) {
        const source = path.join(templateDir, relativeDir, entry.name)
        files.push({
          path: within(RENAMES[entry.name] ?? entry.name),
          content: readFileSync(source),
          mode: statSync(source).mode & 0o777,
        })
      }
    }
  }
  visit('')
  return files
}

/** The template's files with the project's values filled in, plus its `.env`. */
export function fillTemplate(templateFiles: readonly ProjectFile[], values: RenderValues): ProjectFile[] {
  const redis = values.settings.store === 'redis'
  const storeFiles = redis ? templateFiles : templateFiles.filter((file) => !REDIS_ONLY_FILES.has(file.path))
  // Written whole for the project's store and ports; the template's copies are those of its own.
  const deploymentFiles = renderDeploymentFiles(values)
  const files = storeFiles.map((file) => {
    const deploymentFile = deploymentFiles.get(file.path)
    if (deploymentFile !== undefined) return { ...file, content: deploymentFile }
    if (file.path === 'package.json') return { ...file, content: fillPackageJson(file.content, values) }
    if (file.path === STORE_MODULE && redis) return { ...file, content: STORE_MODULE_FOR_REDIS }
    if (file.path === DOCKERFILE) return { ...file, content: fillDockerfile(file.content, values.settings.port) }
    if (file.path === 'README.md') {
      return { ...file, content: text(file.content).replaceAll(TEMPLATE_PACKAGE_NAME, values.name) }
    }
    return file
  })
  files.push({
    path: '.env',
    content: renderEnvFile({ secret: values.webhookSecret, store: values.settings.store }),
    mode: 0o600,
    keepExisting: true,
  })
  return files
}

export function renderProject(templateDir: string, values: RenderValues): ProjectFile[] {
  return fillTemplate(readTemplate(templateDir), values)
}

function text(content: Uint8Array | string): string {
  return typeof content === 'string' ? content : Buffer.from(content).toString('utf8')
}

/**
 * The service reads its port from package.json, which the image carries, so only `EXPOSE` (a
 * literal, read by `docker run -P` and by people) needs the project's port written in.
 */
function fillDockerfile(content: Uint8Array | string, port: number): string {
  return text(content).replace(EXPOSE_LINE, `EXPOSE ${port}`)
}

function fillPackageJson(content: Uint8Array | string, values: RenderValues): string {
  const manifest = JSON.parse(text(content)) as Record<string, unknown>
  const { port, providerPort, delay, store } = values.settings
  manifest.name = values.name
  manifest.gatekeep = { port, providerPort, delay, store }
  if (store !== 'redis' && manifest.dependencies) {
    const { [REDIS_ONLY_DEPENDENCY]: _redisClient, ...dependencies } = manifest.dependencies as Record<string, string>
    manifest.dependencies = dependencies
  }
  const devDependencies = {
    ...(manifest.devDependencies as Record<string, string> | undefined),
    gatekeep: values.gatekeepDependency,
  }
  manifest.devDependencies = Object.fromEntries(
    Object.entries(devDependencies).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  )
  return `${JSON.stringify(manifest, null, 2)}\n`
}
