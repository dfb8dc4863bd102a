import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** Every file below `root` as a sorted list of `/`-separated relative paths. */
export function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort()
}

/** Every entry below `root` (folders too) with its mode and, for files, its content. */
export function snapshot(root: string): Record<string, string> {
  const result: Record<string, string> = {}
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name)
    const relative = path.relative(root, full).split(path.sep).join('/')
    const mode = (lstatSync(full).mode & 0o777).toString(8)
    result[relative] = entry.isFile() ? `${mode} ${readFileSync(full, 'utf8')}` : `${mode} folder`
  }
  return result
}
