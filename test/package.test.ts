// What `npm publish` would ship: the CLI, its compiled code and the template, nothing else.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { repoRoot } from './helpers/gatekeep.js'

const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  bin: Record<string, string>
  engines: Record<string, string>
  scripts: Record<string, string>
}

test('the package holds bin, dist, the template and the README; no tests, benchmarks, scripts or sources', { timeout: 60_000 }, () => {
  // --ignore-scripts: the tests run on a build already made; prepack would rebuild it.
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const [pack] = JSON.parse(output) as [{ files: { path: string }[] }]
  const files = pack.files.map((file) => file.path)
  for (const expected of ['README.md', 'package.json', manifest.bin.gatekeep, 'dist/cli.js', 'templates/service/package.json', 'templates/service/_gitignore', 'templates/service/test/gate.test.ts']) {
    assert.ok(files.includes(expected as string), `${expected} is shipped`)
  }
  const strays = files.filter(
    (file) =>
      !['README.md', 'package.json', 'LICENSE'].includes(file) &&
      !/^(bin|dist|templates)\//.test(file),
  )
  assert.deepEqual(strays, [])
  assert.deepEqual(files.filter((file) => /\.map$|(^|\/)(node_modules|\.gatekeep)\/|(^|\/)\.env$/.test(file)), [])
})

test('installing the package runs no script of its own, and it says which Node it needs', () => {
  assert.equal(manifest.bin.gatekeep, 'bin/gatekeep.js')
  assert.equal(manifest.engines.node, '>=20.19')
  // npm 11.16+ lists such scripts for approval whenever gatekeep is installed from a tarball.
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
    assert.equal(manifest.scripts[script], undefined, `a ${script} script`)
  }
})
