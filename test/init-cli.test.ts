import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { listFiles, snapshot } from './helpers/files.js'
import { expectedProjectFiles, repoRoot, runGatekeep, startGatekeep, templateDir } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'
import { runInTerminal, terminalAvailable } from './helpers/terminal.js'

const TIMEOUT = 30_000
const SECRET_LINE = /^WEBHOOK_SECRET=(whsec_[A-Za-z0-9+/]{43}=)$/m

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
}

function secretOf(projectDir: string): string {
  const match = SECRET_LINE.exec(readFileSync(path.join(projectDir, '.env'), 'utf8'))
  assert.ok(match?.[1], '.env holds a whsec_ secret')
  return match[1]
}

test('init writes the template as a new project with its values filled in', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'shop-api', '--port', '8080', '--provider-port', '9090', '--delay', '0'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  const project = path.join(cwd, 'shop-api')

  assert.deepEqual(listFiles(project), expectedProjectFiles())
  assert.deepEqual(readdirSync(cwd), ['shop-api'], 'no temporary folder is left beside the project')

  const manifest = readJson(path.join(project, 'package.json'))
  assert.equal(manifest.name, 'shop-api')
  assert.deepEqual(manifest.gatekeep, { port: 8080, providerPort: 9090, delay: 0, store: 'memory' })
  // These tests run gatekeep from its clone, so the project must point back at the clone,
  // by a path relative to the project, and say so.
  assert.equal((manifest.devDependencies as Record<string, string>).gatekeep, `file:${path.relative(project, repoRoot)}`)
  assert.match(result.stdout, /^Created shop-api\/\ngatekeep is not from the registry: the project installs it from the gatekeep clone at /)

  const env = readFileSync(path.join(project, '.env'), 'utf8')
  assert.equal(Buffer.from(secretOf(project).slice('whsec_'.length), 'base64').length, 32)
  // The ports live in package.json only; .env pins neither them nor a URL built from them.
  assert.doesNotMatch(env, /^(PORT|PROVIDER_PORT|PROVIDER_URL|PUBLIC_URL)=/m)
  assert.equal(statSync(path.join(project, '.env')).mode & 0o777, 0o600)

  if (existsSync(path.join(templateDir, 'README.md'))) {
    assert.equal(readFileSync(path.join(project, 'README.md'), 'utf8').split('\n')[0], '# shop-api')
  }
  assert.match(result.stdout, /Next steps:\n {2}cd shop-api\n {2}npm install\n {2}npm run dev\n/)
})

test('a memory project has no Redis module, test or client', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  assert.equal((await runGatekeep(['init', 'solo', '--yes'], { cwd })).code, 0)
  const project = path.join(cwd, 'solo')
  assert.match(readFileSync(path.join(project, 'src/store/index.ts'), 'utf8'), /createMemoryStore as createStore/)
  assert.equal((readJson(path.join(project, 'package.json')).dependencies as Record<string, string>).ioredis, undefined)
  assert.doesNotMatch(readFileSync(path.join(project, '.env'), 'utf8'), /REDIS_URL/)
})

test('--store redis swaps the store module, keeps the Redis files and client, and compiles', { timeout: 60_000 }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'fleet', '--store', 'redis', '--yes'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  const project = path.join(cwd, 'fleet')
  assert.deepEqual(listFiles(project), expectedProjectFiles('redis'))
  const manifest = readJson(path.join(project, 'package.json'))
  assert.deepEqual(manifest.gatekeep, { port: 3000, providerPort: 4000, delay: 5000, store: 'redis' })
  assert.match((manifest.dependencies as Record<string, string>).ioredis as string, /^\^/)
  assert.match(readFileSync(path.join(project, 'src/store/index.ts'), 'utf8'), /^export \{ createRedisStore as createStore \} from '\.\/redis\.js'$/m)
  assert.match(readFileSync(path.join(project, '.env'), 'utf8'), /^REDIS_URL=redis:\/\/127\.0\.0\.1:6379$/m)

  // Type-check the generated project against this repository's installed dependencies.
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(project, 'node_modules'), 'dir')
  const tsc = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', project, '--noEmit'], { encoding: 'utf8' })
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
})

test('two projects get two different webhook secrets', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const [first, second] = await Promise.all([
    runGatekeep(['init', 'one'], { cwd }),
    runGatekeep(['init', 'two'], { cwd }),
  ])
  assert.equal(first.code, 0, first.stderr)
  assert.equal(second.code, 0, second.stderr)
  assert.notEqual(secretOf(path.join(cwd, 'one')), secretOf(path.join(cwd, 'two')))
})

test('without a dir and without a TTY, init writes gatekeep-service and reads no stdin', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  // runGatekeep leaves stdin an open pipe: a prompt or a read would hang until the timeout.
  const result = await runGatekeep(['init'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(readJson(path.join(cwd, 'gatekeep-service', 'package.json')).name, 'gatekeep-service')
})

test('the package name is made from the folder name', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'My Service!'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(readJson(path.join(cwd, 'My Service!', 'package.json')).name, 'my-service')
  assert.match(result.stdout, /cd 'My Service!'/)
})

test('an explicit --name is used as given', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'svc', '--name', '@acme/orders'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(readJson(path.join(cwd, 'svc', 'package.json')).name, '@acme/orders')
})

const refusals: { why: string; args: string[]; message: RegExp }[] = [
  { why: 'an invalid --name', args: ['--name', 'Bad Name'], message: /invalid --name "Bad Name"/ },
  { why: 'port 0', args: ['--port', '0'], message: /--port/ },
  { why: 'a non-numeric port', args: ['--port', 'abc'], message: /--port/ },
  { why: 'a provider port above 65535', args: ['--provider-port', '70000'], message: /--provider-port/ },
  { why: 'a negative delay', args: ['--delay', '-5'], message: /--delay/ },
  { why: 'an unknown store', args: ['--store', 'x'], message: /--store/ },
]

for (const { why, args, message } of refusals) {
  test(`init refuses ${why} with exit 2 and writes nothing`, { timeout: TIMEOUT }, async (t) => {
    const cwd = tempDir(t)
    const result = await runGatekeep(['init', 'svc', ...args], { cwd })
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, message)
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`)
    assert.deepEqual(readdirSync(cwd), [])
  })
}

test('init refuses a non-empty folder with exit 2, suggests --force and changes nothing', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const target = path.join(cwd, 'busy')
  mkdirSync(target)
  writeFileSync(path.join(target, 'notes.txt'), 'mine')
  const before = snapshot(cwd)
  const result = await runGatekeep(['init', 'busy'], { cwd })
  assert.equal(result.code, 2)
  assert.match(result.stderr, /busy is not empty.*--force/)
  assert.equal(result.stderr.trim().split('\n').length, 1)
  assert.deepEqual(snapshot(cwd), before)
})

test('a folder holding only .git counts as empty and keeps its .git', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const target = path.join(cwd, 'repo')
  mkdirSync(path.join(target, '.git'), { recursive: true })
  writeFileSync(path.join(target, '.git', 'HEAD'), 'ref: refs/heads/main\n')
  const inode = statSync(target).ino
  const result = await runGatekeep(['init', '.'], { cwd: target })
  assert.equal(result.code, 0, result.stderr)
  assert.deepEqual(listFiles(target), ['.git/HEAD', ...expectedProjectFiles()].sort())
  assert.equal(readFileSync(path.join(target, '.git', 'HEAD'), 'utf8'), 'ref: refs/heads/main\n')
  assert.equal(statSync(target).ino, inode, 'the folder itself is kept, so a shell inside it still sees the files')
  assert.deepEqual(readdirSync(cwd), ['repo'])
  assert.doesNotMatch(result.stdout, /cd /)
})

test('--force lists what it replaces, keeps unrelated files and the existing .env', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const target = path.join(cwd, 'existing')
  mkdirSync(target)
  writeFileSync(path.join(target, 'package.json'), '{"name":"old"}\n')
  writeFileSync(path.join(target, '.env'), 'WEBHOOK_SECRET=whsec_mine\n')
  writeFileSync(path.join(target, 'notes.txt'), 'mine')
  const result = await runGatekeep(['init', 'existing', '--force'], { cwd })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /^Replaced 1 file in existing\/ \(added \d+ files\):\n {2}package\.json\n/)
  assert.match(result.stdout, /Kept your \.env/)
  assert.equal(readFileSync(path.join(target, 'notes.txt'), 'utf8'), 'mine')
  assert.equal(readFileSync(path.join(target, '.env'), 'utf8'), 'WEBHOOK_SECRET=whsec_mine\n')
  assert.equal(readJson(path.join(target, 'package.json')).name, 'existing')
  assert.deepEqual(listFiles(target), [...expectedProjectFiles(), 'notes.txt'].sort())
})

test('--force refuses, before writing, a file standing where the project needs a folder', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const target = path.join(cwd, 'existing')
  mkdirSync(target)
  writeFileSync(path.join(target, 'src'), 'a file, not a folder')
  const before = snapshot(cwd)
  const result = await runGatekeep(['init', 'existing', '--force'], { cwd })
  assert.equal(result.code, 2)
  assert.match(result.stderr, /src is a file/)
  assert.deepEqual(snapshot(cwd), before)
})

test('Ctrl-C at any moment leaves no half-written project and no temporary folder', { timeout: 120_000 }, async (t) => {
  const cwd = tempDir(t)
  const expected = expectedProjectFiles()
  // From before the handlers exist, through the write, to after the end: every outcome must hold.
  for (let delay = 0; delay <= 240; delay += 4) {
    const target = path.join(cwd, `project-${delay}`)
    const run = startGatekeep(['init', path.basename(target)], { cwd })
    setTimeout(() => run.signal('SIGINT'), delay)
    const { code, signal, stderr } = await run.result
    const written = existsSync(target)
    if (code === 130) {
      assert.match(stderr, /Cancelled; nothing was written/)
      assert.equal(written, false, `${delay} ms: cancelled, so nothing written`)
    } else {
      assert.ok(code === 0 || signal === 'SIGINT', `${delay} ms: exit ${code}, signal ${signal}: ${stderr}`)
      if (written) assert.deepEqual(listFiles(target), expected, `${delay} ms: the project is whole`)
    }
    assert.deepEqual(readdirSync(cwd).filter((entry) => entry.startsWith('.')), [], `${delay} ms: no temporary folder`)
  }
})

test('--git makes one commit', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const identity = { GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com' }
  const result = await runGatekeep(['init', 'svc', '--git'], { cwd, env: identity })
  assert.equal(result.code, 0, result.stderr)
  const project = path.join(cwd, 'svc')
  const log = execFileSync('git', ['log', '--format=%s'], { cwd: project, encoding: 'utf8' })
  assert.equal(log, 'Initial commit from gatekeep\n')
  const tracked = execFileSync('git', ['ls-files'], { cwd: project, encoding: 'utf8' }).trim().split('\n')
  if (existsSync(path.join(templateDir, '_gitignore'))) assert.ok(!tracked.includes('.env'), '.env is git-ignored')
})

test('--git without git on the PATH warns and still succeeds', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'svc', '--git'], { cwd, env: { PATH: tempDir(t) } })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, /git was not found/)
  assert.ok(existsSync(path.join(cwd, 'svc', 'package.json')))
})

test('a failed --install exits 1 with a way to retry, the project still written', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'svc', '--install'], {
    cwd,
    env: { npm_config_user_agent: 'pnpm/9.0.0 npm/? node/v20.20.0 linux x64', PATH: tempDir(t) },
  })
  assert.equal(result.code, 1)
  assert.match(result.stderr, /pnpm install could not start \(pnpm was not found\).*cd svc && pnpm install/)
  assert.equal(result.stderr.trim().split('\n').length, 1)
  assert.deepEqual(listFiles(path.join(cwd, 'svc')), expectedProjectFiles())
})

test('--install runs the package manager in the project, and next steps skip the install', { timeout: TIMEOUT, skip: process.platform === 'win32' && 'uses a shell script as a fake pnpm' }, async (t) => {
  const cwd = tempDir(t)
  const bin = tempDir(t)
  writeFileSync(path.join(bin, 'pnpm'), '#!/bin/sh\necho "fake pnpm $* in $(basename "$PWD")"\n', { mode: 0o755 })
  const result = await runGatekeep(['init', 'svc', '--install'], {
    cwd,
    env: { npm_config_user_agent: 'pnpm/9.0.0 npm/? node/v20.20.0', PATH: `${bin}${path.delimiter}${process.env.PATH}` },
  })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /Installing dependencies with pnpm\.\.\.\nfake pnpm install in svc\n/)
  assert.match(result.stdout, /Next steps:\n {2}cd svc\n {2}pnpm dev\n/)
})

test('next steps use the package manager gatekeep was started with', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const result = await runGatekeep(['init', 'svc'], { cwd, env: { npm_config_user_agent: 'yarn/4.5.0 npm/? node/v20.20.0' } })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /Next steps:\n {2}cd svc\n {2}yarn install\n {2}yarn dev\n/)
})

test('init --help lists every flag and shows examples', { timeout: TIMEOUT }, async (t) => {
  const result = await runGatekeep(['init', '--help'], { cwd: tempDir(t) })
  assert.equal(result.code, 0)
  for (const flag of ['--name', '--port', '--provider-port', '--delay', '--store', '--install', '--git', '--force', '--yes']) {
    assert.ok(result.stdout.includes(flag), `help mentions ${flag}`)
  }
  assert.match(result.stdout, /Examples:\n {2}\$ gatekeep init/)
})

test('on a terminal, init asks for what is missing', { timeout: TIMEOUT, skip: !terminalAvailable && 'needs a Linux pseudo-terminal (util-linux script)' }, async (t) => {
  const cwd = tempDir(t)
  const result = await runInTerminal(['init'], cwd, [
    { waitFor: /Where should the project go\?/, send: 'my api\r' },
    { waitFor: /Package name\?[\s\S]*my-api/, send: '\r' },
    { waitFor: /Where should the provider key be kept\?/, send: '\r' },
    { waitFor: /Install dependencies with npm\?/, send: 'n' },
  ])
  assert.equal(result.code, 0, result.screen)
  const manifest = readJson(path.join(cwd, 'my api', 'package.json'))
  assert.equal(manifest.name, 'my-api')
  assert.deepEqual(manifest.gatekeep, { port: 3000, providerPort: 4000, delay: 5000, store: 'memory' })
  assert.match(result.screen, /npm install/)
})

test('on a terminal, a cancelled prompt exits 130 and writes nothing', { timeout: TIMEOUT, skip: !terminalAvailable && 'needs a Linux pseudo-terminal (util-linux script)' }, async (t) => {
  const cwd = tempDir(t)
  const result = await runInTerminal(['init'], cwd, [{ waitFor: /Where should the project go\?/, send: '\x03' }])
  assert.equal(result.code, 130, result.screen)
  assert.match(result.screen, /Cancelled; nothing was written/)
  assert.deepEqual(readdirSync(cwd), [])
})

test('the summary names the folder, and the package only when its name differs', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const same = await runGatekeep(['init', 'my-service'], { cwd })
  assert.match(same.stdout, /^Created my-service\/\n/)
  const other = await runGatekeep(['init', 'svc', '--name', '@acme/orders'], { cwd })
  assert.match(other.stdout, /^Created svc\/ \(package @acme\/orders\)\n/)
  mkdirSync(path.join(cwd, 'here'))
  const current = await runGatekeep(['init', '.'], { cwd: path.join(cwd, 'here') })
  assert.match(current.stdout, /^Created \.\/ \(package here\)\n/)
})

test('the refusal of a non-empty folder lists what --force would replace; --force replaces those and says so', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  assert.equal((await runGatekeep(['init', 'svc'], { cwd })).code, 0)
  const project = path.join(cwd, 'svc')
  writeFileSync(path.join(project, 'src', 'app.ts'), '// my edits\n')
  const manifest = readJson(path.join(project, 'package.json'))
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ ...manifest, description: 'mine' }))
  writeFileSync(path.join(project, 'notes.txt'), 'mine')
  const before = snapshot(cwd)

  const refused = await runGatekeep(['init', 'svc'], { cwd })
  assert.equal(refused.code, 2)
  assert.equal(
    refused.stderr,
    'error: svc is not empty; choose an empty folder, or run again with --force to write into it ' +
      '(it would replace 2 files: package.json, src/app.ts; it keeps your other files and any .env).\n',
  )
  assert.deepEqual(snapshot(cwd), before)

  const forced = await runGatekeep(['init', 'svc', '--force'], { cwd })
  assert.equal(forced.code, 0, forced.stderr)
  assert.match(forced.stdout, /^Replaced 2 files in svc\/ \(\d+ files already matched\):\n {2}package\.json\n {2}src\/app\.ts\nKept your \.env/)
  assert.doesNotMatch(forced.stdout, /Created/)
  assert.equal(readFileSync(path.join(project, 'notes.txt'), 'utf8'), 'mine')
  assert.doesNotMatch(readFileSync(path.join(project, 'src', 'app.ts'), 'utf8'), /my edits/)

  // Once more: nothing differs, so nothing is replaced.
  const again = await runGatekeep(['init', 'svc', '--force'], { cwd })
  assert.match(again.stdout, /^Replaced no file in svc\/ \(\d+ files already matched\)\.\n/)
})

test('the refusal lists the first 10 files --force would replace and counts the rest', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  assert.equal((await runGatekeep(['init', 'svc'], { cwd })).code, 0)
  const project = path.join(cwd, 'svc')
  const edited = listFiles(project).filter((file) => file !== '.env')
  for (const file of edited) writeFileSync(path.join(project, file), 'edited\n')
  const refused = await runGatekeep(['init', 'svc'], { cwd })
  assert.equal(refused.code, 2)
  const listed = new RegExp(`it would replace ${edited.length} files: ([^;]+) and ${edited.length - 10} more; `).exec(refused.stderr)
  assert.ok(listed?.[1], refused.stderr)
  assert.equal(listed[1].split(', ').length, 10)
  assert.equal(refused.stderr.trim().split('\n').length, 1)
})

test('an unknown option and a bad choice end with where the usage is', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  const unknown = await runGatekeep(['init', 'svc', '--bogus'], { cwd })
  assert.equal(unknown.code, 2)
  assert.equal(unknown.stderr, "error: unknown option '--bogus'; see `gatekeep init --help`.\n")
  const choice = await runGatekeep(['init', 'svc', '--store', 'x'], { cwd })
  assert.equal(choice.code, 2)
  assert.equal(choice.stderr, "error: option '--store <store>' argument 'x' is invalid. expected one of: memory, redis; see `gatekeep init --help`.\n")
  assert.deepEqual(readdirSync(cwd), [])
})

test('the refusal copes with a file where the project needs a folder', { timeout: TIMEOUT }, async (t) => {
  const cwd = tempDir(t)
  mkdirSync(path.join(cwd, 'busy'))
  writeFileSync(path.join(cwd, 'busy', 'src'), 'a file, not a folder')
  const result = await runGatekeep(['init', 'busy'], { cwd })
  assert.equal(result.code, 2)
  assert.match(result.stderr, /^error: busy is not empty; .*\(it would replace none of your files; it keeps your other files and any \.env\)\.\n$/)
})
