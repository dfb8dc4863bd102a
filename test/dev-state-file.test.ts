// `.gatekeep/dev.json` as the project's one-session lock, driven directly.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { StateFile } from '../src/dev/state-file.js'
import { devStatePath, type DevState } from '../src/project/contract.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 10_000 }
const MINE: DevState = { pid: process.pid, services: [], provider: null }

function session(pid: number): DevState {
  return { pid, services: [{ url: 'http://127.0.0.1:3999', pid }], provider: null }
}

function existing(root: string, state: DevState): string {
  const file = devStatePath(root)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(state))
  return file
}

test('a claim of a free project writes the file, mode 600, and leaves nothing else', TIMEOUT, (t) => {
  const root = tempDir(t)
  const stateFile = new StateFile(root)
  assert.equal(stateFile.claim(MINE), null)
  assert.deepEqual(JSON.parse(readFileSync(stateFile.path, 'utf8')), MINE)
  assert.equal(statSync(stateFile.path).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(path.join(root, '.gatekeep')), ['dev.json'])
  stateFile.remove()
  assert.deepEqual(readdirSync(path.join(root, '.gatekeep')), [])
})

test('a live session keeps the file: the claim returns it and changes nothing', TIMEOUT, async (t) => {
  const root = tempDir(t)
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
  t.after(() => other.kill())
  const file = existing(root, session(other.pid!))
  const before = readFileSync(file, 'utf8')
  const stateFile = new StateFile(root)
  assert.deepEqual(stateFile.liveSession(), session(other.pid!))
  assert.deepEqual(stateFile.claim(MINE), session(other.pid!))
  stateFile.remove()
  assert.equal(readFileSync(file, 'utf8'), before)
  assert.deepEqual(readdirSync(path.join(root, '.gatekeep')), ['dev.json'])
})

test('the file of a session that is gone is taken over, and so is one naming this very pid (reused)', TIMEOUT, (t) => {
  for (const pid of [spawnSync(process.execPath, ['-e', '0']).pid!, process.pid]) {
    const root = tempDir(t)
    existing(root, session(pid))
    const stateFile = new StateFile(root)
    assert.equal(stateFile.liveSession(), null)
    assert.equal(stateFile.claim(MINE), null, `pid ${pid}`)
    assert.deepEqual(JSON.parse(readFileSync(stateFile.path, 'utf8')), MINE)
    assert.deepEqual(readdirSync(path.join(root, '.gatekeep')), ['dev.json'])
  }
})

test('a file that is not a session (empty, half a JSON) is taken over', TIMEOUT, (t) => {
  const root = tempDir(t)
  mkdirSync(path.dirname(devStatePath(root)))
  writeFileSync(devStatePath(root), '{"pid":')
  const stateFile = new StateFile(root)
  assert.equal(stateFile.claim(MINE), null)
  assert.deepEqual(JSON.parse(readFileSync(stateFile.path, 'utf8')), MINE)
})

test('remove leaves a file that another session wrote since', TIMEOUT, (t) => {
  const root = tempDir(t)
  const stateFile = new StateFile(root)
  assert.equal(stateFile.claim(MINE), null)
  const file = existing(root, session(1))
  stateFile.remove()
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), session(1))
})
