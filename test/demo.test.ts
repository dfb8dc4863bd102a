// `npm run demo`, run by the real npm in a copy of this repository: flags after `--` reach
// `gatekeep dev`, a second run reuses ./demo, and the URL to try is printed. npm's own work
// (the build, the install) is stood in for by a fake npm on the PATH, so nothing is downloaded.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { readDevStateIn, waitUntilGone } from './helpers/dev.js'
import { repoRoot } from './helpers/gatekeep.js'
import { freePort, waitUntilPortFree } from './helpers/ports.js'
import { tempDir } from './helpers/temp.js'

const realNpm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()

/** This repository as a clone holds it after `npm install && npm run build`, dependencies linked. */
function copyRepository(dir: string): string {
  const repo = path.join(dir, 'gatekeep')
  for (const entry of ['bin', 'dist', 'scripts', 'templates', 'package.json']) {
    cpSync(path.join(repoRoot, entry), path.join(repo, entry), {
      recursive: true,
      filter: (source) => !/[\\/](node_modules|dist|\.gatekeep)$/.test(source) || source === path.join(repoRoot, 'dist'),
    })
  }
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(repo, 'node_modules'), 'dir')
  return repo
}

/** An npm that logs each call; `install` links this repository's node_modules, as a real one would fill it. */
function fakeNpm(dir: string): { bin: string; calls: () => string[] } {
  const bin = path.join(dir, 'bin')
  const log = path.join(dir, 'npm-calls.log')
  mkdirSync(bin)
  const script = `#!/bin/sh
echo "$*" >> '${log}'
if [ "$1" = install ]; then ln -s '${path.join(repoRoot, 'node_modules')}' node_modules; fi
`
  writeFileSync(path.join(bin, 'npm'), script, { mode: 0o755 })
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) }
}

interface DemoRun {
  output(): string
  waitFor(pattern: RegExp): Promise<void>
  /** Ctrl-C in a terminal: SIGINT to the whole foreground group. */
  interrupt(): void
  exited: Promise<number | null>
}

function runDemo(t: TestContext, repo: string, npmBin: string, args: readonly string[]): DemoRun {
  const child = spawn(realNpm, ['run', 'demo', '--', ...args], {
    cwd: repo,
    detached: true,
    env: { ...process.env, NO_COLOR: '1', PATH: `${npmBin}${path.delimiter}${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // Already gone.
    }
  })
  return {
    output: () => output,
    exited,
    interrupt: () => process.kill(-child.pid!, 'SIGINT'),
    async waitFor(pattern) {
      const deadline = Date.now() + 30_000
      while (!pattern.test(output)) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `no ${pattern} in:\n${output}`)
        await sleep(50)
      }
    },
  }
}

async function stop(demo: DemoRun, root: string, port: number): Promise<void> {
  const state = readDevStateIn(root)
  assert.ok(state, 'a dev session runs')
  demo.interrupt()
  await demo.exited
  await waitUntilGone([state.pid, ...state.services.map((service) => service.pid)])
  assert.equal(readDevStateIn(root), null, 'dev stopped cleanly')
  assert.equal(await waitUntilPortFree(port), true)
}

test('npm run demo -- <flags>: the flags reach gatekeep dev, the URL to try is printed, a second run reuses ./demo', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t, 'gatekeep-demo-')
  const repo = copyRepository(dir)
  const npm = fakeNpm(dir)
  const demoRoot = path.join(repo, 'demo')
  const port = await freePort()
  const consolePort = await freePort()
  const args = ['--port', String(port), '--provider-port', String(await freePort()), '--console-port', String(consolePort), '--delay', '100', '--no-watch']

  const first = runDemo(t, repo, npm.bin, args)
  await first.waitFor(new RegExp(`console  http://127\\.0\\.0\\.1:${consolePort}/`))
  await first.waitFor(new RegExp(`service listening on http://127\\.0\\.0\\.1:${port} `))
  // The demo's customers (--traffic 2): refused until the gate opens, then served.
  await first.waitFor(/customers: 200 ×\d+\/s/)
  await first.waitFor(new RegExp(`curl -i http://127\\.0\\.0\\.1:${port}/v1/data`))
  assert.deepEqual(npm.calls(), ['run --silent build', 'install'])
  const secret = readFileSync(path.join(demoRoot, '.env'), 'utf8')
  await stop(first, demoRoot, port)

  const second = runDemo(t, repo, npm.bin, args)
  await second.waitFor(/reusing \.\/demo/)
  await second.waitFor(new RegExp(`curl -i http://127\\.0\\.0\\.1:${port}/v1/data`))
  assert.deepEqual(npm.calls(), ['run --silent build', 'install', 'run --silent build'], 'no second init or install')
  assert.doesNotMatch(second.output(), /Created/)
  assert.equal(readFileSync(path.join(demoRoot, '.env'), 'utf8'), secret)
  await stop(second, demoRoot, port)
})
