// The README says what the CLI does: the parts a new user acts on are checked against it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { repoRoot } from './helpers/gatekeep.js'

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8')

/** The rows of the README's exit code table, by code. */
function exitCodeRows(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Exit codes'))
  const rows = new Map<string, string>()
  for (const match of section.matchAll(/^\| `(\d+)` \| (.+) \|$/gm)) rows.set(match[1] as string, match[2] as string)
  return rows
}

test('the exit code table: a requested stop of dev is 0, a forced stop and a cancelled prompt 130', () => {
  const rows = exitCodeRows()
  assert.deepEqual([...rows.keys()], ['0', '1', '2', '130'])
  // dev-session, dev-terminal and dev-processes check the codes themselves.
  assert.match(rows.get('0') ?? '', /requested stop of `gatekeep dev`.*Ctrl-C, `q`, SIGTERM or SIGHUP/)
  assert.match(rows.get('130') ?? '', /^a forced stop \(a second Ctrl-C while `gatekeep dev` stops\) or a cancelled prompt/)
  assert.match(rows.get('2') ?? '', /a `gatekeep dev` already running in the project/)
})

test('"For your own project" shows the way that works today beside npx gatekeep init', () => {
  const section = readme.slice(readme.indexOf('For your own project'), readme.indexOf('## Commands'))
  assert.match(section, /^npx gatekeep init my-service$/m)
  assert.match(section, /^npm install && npm pack /m)
  assert.match(section, /^npm install -D \S+\/gatekeep-[\d.]+\.tgz$/m)
})
