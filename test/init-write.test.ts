import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { WorkError } from '../src/errors.js'
import { InitCancelled } from '../src/init/context.js'
import type { ProjectFile } from '../src/init/render.js'
import { writeProject } from '../src/init/write.js'
import { listFiles, snapshot } from './helpers/files.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = 10_000

function file(relative: string, content = `content of ${relative}`): ProjectFile {
  return { path: relative, content, mode: 0o644 }
}

// Fails midway: the third file needs `a.txt` to be a folder, but the first made it a file.
const FAILING_FILES = [file('a.txt'), file('src/b.txt'), file('a.txt/c.txt')]

test('a new folder is written whole, with the requested modes', { timeout: TIMEOUT }, async (t) => {
  const parent = tempDir(t)
  const target = path.join(parent, 'deep', 'project')
  const report = await writeProject(target, 'create', [
    file('package.json'),
    file('src/app.ts'),
    { path: '.env', content: 'SECRET=1\n', mode: 0o600, keepExisting: true },
  ])
  assert.deepEqual(report, { added: ['package.json', 'src/app.ts', '.env'], replaced: [], kept: [], unchanged: [] })
  assert.deepEqual(listFiles(target), ['.env', 'package.json', 'src/app.ts'])
  assert.equal(statSync(path.join(target, '.env')).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(path.join(parent, 'deep')), ['project'])
})

test('a failed write into a new folder leaves nothing, not even the parents it made', { timeout: TIMEOUT }, async (t) => {
  const parent = tempDir(t)
  await assert.rejects(writeProject(path.join(parent, 'deep', 'project'), 'create', FAILING_FILES), WorkError)
  assert.deepEqual(readdirSync(parent), [])
})

test('a failed write into an existing parent leaves no temporary folder', { timeout: TIMEOUT }, async (t) => {
  const parent = tempDir(t)
  writeFileSync(path.join(parent, 'neighbour.txt'), 'untouched')
  const before = snapshot(parent)
  await assert.rejects(writeProject(path.join(parent, 'project'), 'create', FAILING_FILES), WorkError)
  assert.deepEqual(snapshot(parent), before)
})

test('a failed write into a .git-only folder leaves it as it was', { timeout: TIMEOUT }, async (t) => {
  const parent = tempDir(t)
  const target = path.join(parent, 'repo')
  mkdirSync(path.join(target, '.git'), { recursive: true })
  writeFileSync(path.join(target, '.git', 'HEAD'), 'ref: refs/heads/main\n')
  const before = snapshot(parent)
  await assert.rejects(writeProject(target, 'fill', FAILING_FILES), WorkError)
  assert.deepEqual(snapshot(parent), before)
})

test('--force replaces files one by one and keeps a file marked keepExisting', { timeout: TIMEOUT }, async (t) => {
  const target = tempDir(t)
  writeFileSync(path.join(target, 'README.md'), 'old readme')
  writeFileSync(path.join(target, '.env'), 'mine')
  writeFileSync(path.join(target, 'notes.txt'), 'mine')
  const report = await writeProject(target, 'merge', [
    file('README.md'),
    file('src/app.ts'),
    { path: '.env', content: 'new', mode: 0o600, keepExisting: true },
  ])
  assert.deepEqual(report, { added: ['src/app.ts'], replaced: ['README.md'], kept: ['.env'], unchanged: [] })
  assert.equal(readFileSync(path.join(target, 'README.md'), 'utf8'), 'content of README.md')
  assert.equal(readFileSync(path.join(target, '.env'), 'utf8'), 'mine')
  assert.deepEqual(listFiles(target), ['.env', 'README.md', 'notes.txt', 'src/app.ts'])
})

test('a failed --force write restores every file it had replaced and removes what it added', { timeout: TIMEOUT }, async (t) => {
  const target = tempDir(t)
  writeFileSync(path.join(target, 'README.md'), 'old readme')
  writeFileSync(path.join(target, 'notes'), 'a file where the last project file needs a folder')
  mkdirSync(path.join(target, 'src'))
  writeFileSync(path.join(target, 'src', 'app.ts'), 'old app', { mode: 0o600 })
  const before = snapshot(target)
  const files = [file('README.md'), file('package.json'), file('src/app.ts'), file('test/new.ts'), file('notes/today.md')]
  await assert.rejects(writeProject(target, 'merge', files), /could not write the project .*was left as it was/)
  assert.deepEqual(snapshot(target), before)
})

test('an abort (Ctrl-C) while writing undoes the write and says it was cancelled', { timeout: TIMEOUT }, async (t) => {
  for (const mode of ['create', 'fill', 'merge'] as const) {
    const parent = tempDir(t)
    const target = path.join(parent, 'project')
    if (mode !== 'create') mkdirSync(target)
    if (mode === 'merge') writeFileSync(path.join(target, 'package.json'), 'old')
    const before = snapshot(parent)
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(writeProject(target, mode, [file('package.json'), file('src/app.ts')], controller.signal), InitCancelled)
    assert.deepEqual(snapshot(parent), before, `${mode}: target unchanged`)
  }
})

test('an abort midway through the write puts the target back as it was', { timeout: TIMEOUT }, async (t) => {
  const files = Array.from({ length: 300 }, (_, index) => file(`src/module-${String(index).padStart(3, '0')}.ts`))
  for (const mode of ['create', 'fill', 'merge'] as const) {
    const parent = tempDir(t)
    const target = path.join(parent, 'project')
    if (mode !== 'create') mkdirSync(target)
    if (mode === 'merge') {
      mkdirSync(path.join(target, 'src'))
      for (const index of ['000', '001', '002']) writeFileSync(path.join(target, 'src', `module-${index}.ts`), 'old')
    }
    const before = snapshot(parent)
    const controller = new AbortController()
    // Abort once the write is well under way: in place for --force, in the temporary folder otherwise.
    const underWay = () =>
      mode === 'merge'
        ? readdirSync(path.join(target, 'src')).length > 10
        : readdirSync(parent).some((entry) => entry.startsWith('.project.'))
    const watch = () => (underWay() ? controller.abort() : setImmediate(watch))
    setImmediate(watch)
    await assert.rejects(writeProject(target, mode, files, controller.signal), InitCancelled)
    assert.deepEqual(snapshot(parent), before, `${mode}: target unchanged`)
  }
})

test("--force leaves a file that already holds the project's content as it is, and says so", { timeout: TIMEOUT }, async (t) => {
  const target = tempDir(t)
  writeFileSync(path.join(target, 'README.md'), 'content of README.md')
  writeFileSync(path.join(target, 'package.json'), 'edited')
  const before = statSync(path.join(target, 'README.md'))
  const report = await writeProject(target, 'merge', [file('README.md'), file('package.json')])
  assert.deepEqual(report, { added: [], replaced: ['package.json'], kept: [], unchanged: ['README.md'] })
  const after = statSync(path.join(target, 'README.md'))
  assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], 'README.md was not rewritten')
})
