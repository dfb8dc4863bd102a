import path from 'node:path'
import { watch } from 'chokidar'

/** Top-level folders whose changes never restart anything: output, tooling state, tests, logs. */
const IGNORED_TOP_FOLDERS = new Set(['dist', '.git', '.gatekeep', 'coverage', 'logs', 'test'])

/** Logs, and editors' swap, backup and lock files. */
const IGNORED_FILES = /(\.log$|~$|\.sw[a-p]$|^\.#)/

export interface ProjectWatcher {
  /** Resolves once the initial scan is done: later changes are reported. */
  ready: Promise<void>
  close(): Promise<void>
}

/** Reports every file added, changed or removed in the project, by its path from `root`. */
export function watchProject(root: string, onChange: (relativePath: string) => void): ProjectWatcher {
  const ignored = (file: string): boolean => {
    const relative = path.relative(root, file)
    if (relative === '') return false
    const segments = relative.split(path.sep)
    return (
      IGNORED_TOP_FOLDERS.has(segments[0] ?? '') ||
      segments.includes('node_modules') ||
      IGNORED_FILES.test(path.basename(file))
    )
  }
  const watcher = watch(root, { ignored, ignoreInitial: true })
  const report = (file: string) => onChange(path.relative(root, file).split(path.sep).join('/'))
  watcher.on('add', report).on('change', report).on('unlink', report)
  return {
    ready: new Promise((resolve) => watcher.once('ready', () => resolve())),
    close: () => watcher.close(),
  }
}
