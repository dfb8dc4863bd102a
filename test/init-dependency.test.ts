// Where a generated project gets gatekeep from: where the gatekeep that wrote it came from.
import assert from 'node:assert/strict'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { gatekeepDependency, gatekeepOrigin } from '../src/init/gatekeep-package.js'
import { repoRoot, runGatekeep } from './helpers/gatekeep.js'
import { runCaptured } from './helpers/spawn.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 30_000 }
const REGISTRY_URL = 'https://registry.npmjs.org/gatekeep/-/gatekeep-0.1.0.tgz'

/** `<user>/node_modules/gatekeep` as npm installs it, with `lockfile` holding its entry. */
function installLayout(user: string, resolved: string | undefined, lockfile = 'node_modules/.package-lock.json'): string {
  const root = path.join(user, 'node_modules', 'gatekeep')
  mkdirSync(root, { recursive: true })
  const entry = { version: '0.1.0', ...(resolved === undefined ? {} : { resolved }) }
  writeFileSync(path.join(user, lockfile), JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/gatekeep': entry } }))
  return root
}

test('a clone is depended on by a path relative to the project, with a line saying so', TIMEOUT, (t) => {
  const base = tempDir(t)
  const clone = path.join(base, 'src', 'gatekeep')
  mkdirSync(clone, { recursive: true })
  const origin = gatekeepOrigin(clone)
  assert.deepEqual(origin, { kind: 'path', path: clone, clone: true })
  const dependency = gatekeepDependency(origin, '0.1.0', path.join(base, 'work', 'svc'))
  assert.equal(dependency.spec, 'file:../../src/gatekeep')
  assert.equal(dependency.note, 'gatekeep is not from the registry: the project installs it from the gatekeep clone at ../../src/gatekeep.')
})

test('installed from a tarball: the project installs the same tarball', TIMEOUT, (t) => {
  const user = tempDir(t)
  writeFileSync(path.join(user, 'gatekeep-0.1.0.tgz'), 'a tarball')
  const origin = gatekeepOrigin(installLayout(user, 'file:gatekeep-0.1.0.tgz'))
  assert.deepEqual(origin, { kind: 'path', path: path.join(user, 'gatekeep-0.1.0.tgz'), clone: false })
  const dependency = gatekeepDependency(origin, '0.1.0', path.join(user, 'my-service'))
  assert.equal(dependency.spec, 'file:../gatekeep-0.1.0.tgz')
  assert.match(dependency.note ?? '', /^gatekeep is not from the registry: the project installs it from \.\.\/gatekeep-0\.1\.0\.tgz\.$/)
})

test('a tarball that is gone is still named, and the line says how to do without it', TIMEOUT, (t) => {
  const user = tempDir(t)
  const origin = gatekeepOrigin(installLayout(user, 'file:../gone/gatekeep-0.1.0.tgz'))
  const dependency = gatekeepDependency(origin, '0.1.0', path.join(user, 'my-service'))
  assert.equal(dependency.spec, 'file:../../gone/gatekeep-0.1.0.tgz')
  assert.match(dependency.note ?? '', /it is not there any more: put it back, or run `npm install -D <path to a gatekeep \.tgz>` in the project\.$/)
})

test('installed from the registry (npx, or a project): the version range, and no line', TIMEOUT, (t) => {
  const withUrl = tempDir(t)
  assert.deepEqual(gatekeepOrigin(installLayout(withUrl, REGISTRY_URL)), { kind: 'registry' })
  // npm leaves `resolved` out of registry entries when configured to (omit-lockfile-registry-resolved).
  const withoutUrl = tempDir(t)
  assert.deepEqual(gatekeepOrigin(installLayout(withoutUrl, undefined, 'package-lock.json')), { kind: 'registry' })
  // A global install keeps no lockfile: the registry is all that is left to assume.
  const global = tempDir(t)
  mkdirSync(path.join(global, 'lib', 'node_modules', 'gatekeep'), { recursive: true })
  assert.deepEqual(gatekeepOrigin(path.join(global, 'lib', 'node_modules', 'gatekeep')), { kind: 'registry' })
  assert.deepEqual(gatekeepDependency({ kind: 'registry' }, '1.2.3', '/work/svc'), { spec: '^1.2.3', note: null })
})

test('installed from git: the project installs the same commit', TIMEOUT, (t) => {
  const user = tempDir(t)
  const url = 'git+ssh://git@github.com/acme/gatekeep.git#0123456789abcdef0123456789abcdef01234567'
  const origin = gatekeepOrigin(installLayout(user, url, 'package-lock.json'))
  assert.deepEqual(origin, { kind: 'url', url })
  assert.equal(gatekeepDependency(origin, '0.1.0', path.join(user, 'svc')).spec, url)
})

/**
 * This repository's gatekeep as npm would have installed it from a tarball into `user`: a copy,
 * so that it runs from node_modules, with its dependencies linked from this repository.
 */
function installCopy(user: string, resolved: string): string {
  const root = installLayout(user, resolved)
  for (const entry of ['bin', 'dist', 'templates', 'package.json']) {
    cpSync(path.join(repoRoot, entry), path.join(root, entry), {
      recursive: true,
      filter: (source) => !/[\\/](node_modules|\.gatekeep)$/.test(source) && !source.endsWith('.env'),
    })
  }
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir')
  return path.join(root, 'bin', 'gatekeep.js')
}

async function initWith(bin: string, cwd: string): Promise<{ stdout: string; spec: string }> {
  const { code, stdout, stderr } = await runCaptured(process.execPath, [bin, 'init', 'my-service', '--yes'], { cwd, env: { NO_COLOR: '1' } })
  assert.equal(code, 0, stderr)
  const manifest = JSON.parse(readFileSync(path.join(cwd, 'my-service', 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  return { stdout, spec: manifest.devDependencies.gatekeep as string }
}

test('gatekeep init from a tarball install writes a project that installs that tarball', TIMEOUT, async (t) => {
  const user = tempDir(t)
  writeFileSync(path.join(user, 'gatekeep-0.1.0.tgz'), 'a tarball')
  const { stdout, spec } = await initWith(installCopy(user, 'file:gatekeep-0.1.0.tgz'), user)
  assert.equal(spec, 'file:../gatekeep-0.1.0.tgz')
  assert.match(stdout, /^gatekeep is not from the registry: the project installs it from \.\.\/gatekeep-0\.1\.0\.tgz\.$/m)
})

test('gatekeep init from a registry install writes the version range and says nothing of it', TIMEOUT, async (t) => {
  const user = tempDir(t)
  const { stdout, spec } = await initWith(installCopy(user, REGISTRY_URL), user)
  const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  assert.equal(spec, `^${version}`)
  assert.doesNotMatch(stdout, /registry/)
})

test('gatekeep init from the clone: a relative path to it', TIMEOUT, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'svc', '--yes'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  const manifest = JSON.parse(readFileSync(path.join(cwd, 'svc', 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  const relative = path.relative(path.join(cwd, 'svc'), repoRoot)
  assert.equal(manifest.devDependencies.gatekeep, `file:${relative}`)
  assert.ok(result.stdout.includes(`the project installs it from the gatekeep clone at ${relative}.`), result.stdout)
})
