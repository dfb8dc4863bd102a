import path from 'node:path'

/** `dir` as the person would type it from `cwd`: relative below it, absolute elsewhere. */
export function displayPath(cwd: string, dir: string): string {
  const relative = path.relative(cwd, dir)
  if (relative === '') return '.'
  if (relative.startsWith('..') || path.isAbsolute(relative)) return dir
  return relative
}

/** Quotes a path for a POSIX shell when it holds anything but plain characters. */
export function shellQuote(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`
}
