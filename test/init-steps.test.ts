import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { UsageError } from '../src/errors.js'
import { inspectTarget } from '../src/init/check-target.js'
import { displayPath, shellQuote } from '../src/init/display-path.js'
import { detectPackageManager } from '../src/init/package-manager.js'
import { packageNameFromFolder, packageNameProblem } from '../src/init/package-name.js'
import { fillTemplate, readTemplate } from '../src/init/render.js'
import { resolveOptions } from '../src/init/resolve-options.js'
import { generateWebhookSecret, renderEnvFile } from '../src/project/env-file.js'
import { DEFAULT_SETTINGS } from '../src/project/settings.js'
import { templateDir } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = 10_000

test('folder names become valid npm names', { timeout: TIMEOUT }, () => {
  const cases: [string, string][] = [
    ['My Service!', 'my-service'],
    ['  spaced   out  ', 'spaced-out'],
    ['.hidden', 'hidden'],
    ['_private', 'private'],
    ['Ünïcode Näme', 'n-code-n-me'],
    ['already-fine.v2', 'already-fine.v2'],
  ]
  for (const [folder, name] of cases) {
    assert.equal(packageNameFromFolder(folder), name, folder)
    assert.equal(packageNameProblem(name), undefined, name)
  }
  assert.equal(packageNameFromFolder('!!!'), '')
})

test('names npm refuses are explained', { timeout: TIMEOUT }, () => {
  assert.match(packageNameProblem('Upper') ?? '', /capital letters/)
  assert.match(packageNameProblem('.dot') ?? '', /period/)
  assert.match(packageNameProblem('') ?? '', /length/)
  assert.equal(packageNameProblem('@scope/pkg'), undefined)
})

test('the package manager comes from the user agent, npm by default', { timeout: TIMEOUT }, () => {
  assert.equal(detectPackageManager(undefined).name, 'npm')
  assert.equal(detectPackageManager('something-else/1.0').name, 'npm')
  assert.equal(detectPackageManager('npm/10.8.2 node/v20.20.0 linux x64').runScript('dev'), 'npm run dev')
  assert.equal(detectPackageManager('pnpm/9.1.0 npm/? node/v20.20.0').runScript('dev'), 'pnpm dev')
  assert.equal(detectPackageManager('yarn/4.5.0 npm/? node/v20.20.0').runScript('dev'), 'yarn dev')
  assert.equal(detectPackageManager('bun/1.1.30 npm/? node/v22.6.0').runScript('dev'), 'bun run dev')
})

test('webhook secrets are whsec_ and 32 random bytes', { timeout: TIMEOUT }, () => {
  const secret = generateWebhookSecret()
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32)
  assert.notEqual(generateWebhookSecret(), secret)
})

test('.env holds the secret, no port or URL (only commented mentions), and REDIS_URL only with the Redis store', { timeout: TIMEOUT }, () => {
  const memory = renderEnvFile({ secret: 'whsec_x', store: 'memory' })
  assert.match(memory, /^#/)
  assert.match(memory, /^WEBHOOK_SECRET=whsec_x$/m)
  for (const variable of ['PORT', 'PROVIDER_PORT', 'PROVIDER_DELAY_MS', 'PUBLIC_URL', 'PROVIDER_URL']) {
    assert.doesNotMatch(memory, new RegExp(`^\\s*${variable}=`, 'm'), `${variable} is set`)
  }
  assert.match(memory, /^# .*PUBLIC_URL/m)
  assert.match(memory, /^# .*PROVIDER_URL/m)
  assert.deepEqual(
    memory.split('\n').filter((line) => line !== '' && !line.startsWith('#')),
    ['WEBHOOK_SECRET=whsec_x'],
  )
  assert.doesNotMatch(memory, /REDIS_URL/)
  const redis = renderEnvFile({ secret: 'whsec_x', store: 'redis' })
  assert.match(redis, /^REDIS_URL=redis:\/\/127\.0\.0\.1:6379$/m)
})

test("the Dockerfile exposes the project's port and hard-codes none", { timeout: TIMEOUT }, () => {
  const files = fillTemplate(readTemplate(templateDir), {
    name: 'orders',
    settings: { ...DEFAULT_SETTINGS, port: 3750, providerPort: 4750 },
    gatekeepDependency: '^0.1.0',
    webhookSecret: 'whsec_test',
  })
  const dockerfile = String(files.find((file) => file.path === 'Dockerfile')?.content)
  assert.match(dockerfile, /^EXPOSE 3750$/m)
  assert.doesNotMatch(dockerfile, /3000|4000/)
  // The service reads package.json "gatekeep".port, which the image carries; PORT would pin it.
  assert.doesNotMatch(dockerfile, /^ENV .*\bPORT=/m)
  assert.match(dockerfile, /^COPY --from=build \/app\/package\.json/m)
})

test('the template is read with renames and without build leftovers', { timeout: TIMEOUT }, (t) => {
  const template = tempDir(t)
  for (const folder of ['src', 'node_modules/x', 'dist', 'src/nested']) mkdirSync(path.join(template, folder), { recursive: true })
  for (const file of ['package.json', '_gitignore', '.env', '.env.example', 'tsconfig.tsbuildinfo', 'src/app.ts', 'src/nested/_gitignore', 'node_modules/x/index.js', 'dist/app.js']) {
    writeFileSync(path.join(template, file), file)
  }
  const files = readTemplate(template)
  assert.deepEqual(
    files.map((file) => file.path),
    ['.env.example', '.gitignore', 'package.json', 'src/app.ts', 'src/nested/.gitignore'],
  )
})

test('the project values are filled into package.json and README.md', { timeout: TIMEOUT }, () => {
  const template = [
    {
      path: 'package.json',
      content: Buffer.from(JSON.stringify({ name: 'gatekeep-service', gatekeep: {}, devDependencies: { typescript: '^5', '@types/node': '^20' } })),
      mode: 0o644,
    },
    { path: 'README.md', content: '# gatekeep-service\n\nRun `gatekeep-service` locally.\n', mode: 0o644 },
    { path: 'src/app.ts', content: 'export {}\n', mode: 0o644 },
  ]
  const files = fillTemplate(template, {
    name: '@acme/orders',
    settings: { port: 1, providerPort: 2, delay: 3, store: 'memory' },
    gatekeepDependency: '^0.1.0',
    webhookSecret: 'whsec_test',
  })
  const byPath = new Map(files.map((file) => [file.path, file]))
  const manifest = JSON.parse(String(byPath.get('package.json')?.content)) as Record<string, unknown>
  assert.equal(manifest.name, '@acme/orders')
  assert.deepEqual(manifest.gatekeep, { port: 1, providerPort: 2, delay: 3, store: 'memory' })
  assert.deepEqual(Object.entries(manifest.devDependencies as object), [
    ['@types/node', '^20'],
    ['gatekeep', '^0.1.0'],
    ['typescript', '^5'],
  ])
  assert.equal(byPath.get('README.md')?.content, '# @acme/orders\n\nRun `@acme/orders` locally.\n')
  assert.equal(byPath.get('src/app.ts'), template[2])
  const env = byPath.get('.env')
  assert.equal(env?.mode, 0o600)
  assert.equal(env?.keepExisting, true)
  assert.match(String(env?.content), /^WEBHOOK_SECRET=whsec_test$/m)
})

test('targets are told apart: missing, empty, .git only, non-empty, a file', { timeout: TIMEOUT }, (t) => {
  const root = tempDir(t)
  mkdirSync(path.join(root, 'empty'))
  mkdirSync(path.join(root, 'repo', '.git'), { recursive: true })
  mkdirSync(path.join(root, 'busy'))
  writeFileSync(path.join(root, 'busy', 'x'), '')
  writeFileSync(path.join(root, 'file'), '')
  assert.equal(inspectTarget(path.join(root, 'missing')), 'missing')
  assert.equal(inspectTarget(path.join(root, 'empty')), 'empty')
  assert.equal(inspectTarget(path.join(root, 'repo')), 'git-only')
  assert.equal(inspectTarget(path.join(root, 'busy')), 'non-empty')
  assert.equal(inspectTarget(path.join(root, 'file')), 'not-a-folder')
})

test('paths are shown as typed and quoted for the shell when needed', { timeout: TIMEOUT }, () => {
  assert.equal(displayPath('/work', '/work'), '.')
  assert.equal(displayPath('/work', '/work/a/b'), path.join('a', 'b'))
  assert.equal(displayPath('/work', '/elsewhere/x'), '/elsewhere/x')
  assert.equal(shellQuote('my-service'), 'my-service')
  assert.equal(shellQuote('My Service!'), "'My Service!'")
  assert.equal(shellQuote("it's"), "'it'\\''s'")
})

test('without a TTY every missing value takes its default', { timeout: TIMEOUT }, async () => {
  const context = await resolveOptions(undefined, { port: 3000, providerPort: 4000, delay: 5000 }, {
    cwd: '/work',
    interactive: false,
    packageManager: detectPackageManager(undefined),
  })
  assert.equal(context.targetDir, path.resolve('/work', 'gatekeep-service'))
  assert.equal(context.name, 'gatekeep-service')
  assert.deepEqual(context.settings, DEFAULT_SETTINGS)
  assert.equal(context.install, false)
  assert.equal(context.git, false)
  assert.equal(context.force, false)
})

test('equal service and provider ports are refused, naming both flags', { timeout: TIMEOUT }, async () => {
  const environment = { cwd: '/work', interactive: false, packageManager: detectPackageManager(undefined) }
  await assert.rejects(
    resolveOptions('svc', { port: 3750, providerPort: 3750, delay: 5000 }, environment),
    (error) => error instanceof UsageError && /^--port and --provider-port are both 3750/.test(error.message),
  )
})

test('a folder name with no usable character needs --name', { timeout: TIMEOUT }, async () => {
  const environment = { cwd: '/work', interactive: false, packageManager: detectPackageManager(undefined) }
  const flags = { port: 3000, providerPort: 4000, delay: 5000 }
  await assert.rejects(resolveOptions('!!!', flags, environment), (error) => error instanceof UsageError && /--name/.test(error.message))
  assert.equal((await resolveOptions('!!!', { ...flags, name: 'ok' }, environment)).name, 'ok')
})
