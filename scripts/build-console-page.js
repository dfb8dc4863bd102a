// `npm run build`, after tsc: builds the dev console's page into dist/console/page — its modules
// compiled by tsc with browser settings, its HTML and CSS, and uPlot copied from node_modules so
// that the page loads nothing from another host. Starts from an empty folder: a module renamed
// in src/console/page must not linger in the package.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('..', import.meta.url))
const source = path.join(repo, 'src', 'console', 'page')
const target = path.join(repo, 'dist', 'console', 'page')
const require = createRequire(import.meta.url)

rmSync(target, { recursive: true, force: true })
mkdirSync(target, { recursive: true })
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(source, 'tsconfig.json')], { stdio: 'inherit' })
for (const name of readdirSync(source)) {
  if (/\.(html|css|svg)$/.test(name)) copyFileSync(path.join(source, name), path.join(target, name))
}
for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) {
  copyFileSync(require.resolve(`uplot/dist/${name}`), path.join(target, name))
}
