// `gatekeep dev` on a terminal: keys, countdown, colors; and through `npm run dev`.
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { childPids, makeDevProject, readDevStateIn, startDevInTerminal, waitUntilGone } from './helpers/dev.js'
import { binPath } from './helpers/gatekeep.js'
import { freePort, waitUntilPortFree } from './helpers/ports.js'
import { spawnCaptured } from './helpers/spawn.js'
import { tempDir } from './helpers/temp.js'
import { terminalAvailable } from './helpers/terminal.js'

const TIMEOUT = { timeout: 60_000 }
const onTerminal = { ...TIMEOUT, skip: terminalAvailable ? false : 'needs a Linux pseudo-terminal (util-linux script)' }

test('keys on a TTY: f calls back now, r restarts, q quits; a countdown; colors', onTerminal, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-tty-'))
  const port = await freePort()
  const providerPort = await freePort()
  // A delay no test waits for: only `f` opens the gate.
  const dev = startDevInTerminal(t, root, ['--delay', '60000', '--port', String(port), '--provider-port', String(providerPort)])
  await dev.waitFor(/keys: r restart · f provider calls back now · q quit/, 30_000)
  await dev.waitFor(/gate pending: \d+ s left/, 30_000)
  assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 503)

  dev.type('f')
  await dev.waitFor(/the provider calls back now \(1 pending\)/)
  await dev.waitFor(/gatekeep │ gate open after/)
  assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200)

  const before = readDevStateIn(root)
  dev.type('r')
  await dev.waitFor(/restarting the service: r pressed[\s\S]*service listening on[\s\S]*gate pending/)
  assert.notEqual(readDevStateIn(root)?.services[0]?.pid, before?.services[0]?.pid)

  const pids = [before!.pid, ...childPids(before!.pid)]
  dev.type('q')
  assert.equal((await dev.exited).code, 0)
  await waitUntilGone(pids)
  assert.equal(await waitUntilPortFree(port), true)
  assert.match(dev.output(true), /\x1b\[/, 'colors on a TTY')
})

test('NO_COLOR on a TTY: no colors', onTerminal, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-tty-'))
  const args = ['--delay', '100', '--port', String(await freePort()), '--provider-port', String(await freePort())]
  const dev = startDevInTerminal(t, root, args, { NO_COLOR: '1' })
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  dev.type('q')
  assert.equal((await dev.exited).code, 0)
  assert.doesNotMatch(dev.output(true), /\x1b\[\d+m/)
})

test('`npm run dev` runs it; Ctrl-C to the whole process group ends everything', TIMEOUT, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-npm-'))
  // What an installed gatekeep provides: its bin on the PATH of npm scripts.
  const bin = path.join(root, '.bin-shim')
  mkdirSync(bin)
  symlinkSync(binPath, path.join(bin, 'gatekeep'))
  const port = await freePort()
  const args = ['run', 'dev', '--', '--delay', '100', '--port', String(port), '--provider-port', String(await freePort()), '--no-console']
  // Its own process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
  const npm = spawnCaptured('npm', args, {
    cwd: root,
    env: { NO_COLOR: '1', PATH: `${bin}${path.delimiter}${process.env.PATH}` },
    group: true,
    t,
  })
  await npm.waitFor(/gatekeep │ gate open after/, 30_000)
  const state = readDevStateIn(root)
  assert.ok(state)
  const pids = [state.pid, ...childPids(state.pid)]
  npm.signal('SIGINT')
  await npm.exited
  await waitUntilGone(pids)
  assert.equal(await waitUntilPortFree(port), true)
})

test('Ctrl-C on a TTY is a requested stop: every child ends, exit 0', onTerminal, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-tty-'))
  const port = await freePort()
  const dev = startDevInTerminal(t, root, ['--delay', '100', '--port', String(port), '--provider-port', String(await freePort())])
  await dev.waitFor(/gatekeep │ gate open after/, 30_000)
  const state = readDevStateIn(root)
  assert.ok(state)
  const pids = [state.pid, ...childPids(state.pid)]
  dev.type('\x03')
  assert.equal((await dev.exited).code, 0)
  await waitUntilGone(pids)
  assert.equal(readDevStateIn(root), null)
  assert.equal(await waitUntilPortFree(port), true)
})

test('a second Ctrl-C on a TTY forces the stop: exit 130', onTerminal, async (t) => {
  const root = makeDevProject(tempDir(t, 'gatekeep-dev-tty-'))
  // A service that ignores SIGTERM keeps the first stop waiting for its grace period.
  writeFileSync(
    path.join(root, 'src', 'server.ts'),
    [
      "import { channel } from 'node:diagnostics_channel'",
      "import Fastify from 'fastify'",
      "process.on('SIGTERM', () => console.error('ignoring SIGTERM'))",
      'const app = Fastify({ logger: true })',
      "const url = await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })",
      "channel('gatekeep:listening').publish({ type: 'listening', app: 1, url })",
    ].join('\n'),
  )
  const dev = startDevInTerminal(t, root, ['--delay', '100', '--port', String(await freePort()), '--provider-port', String(await freePort())])
  await dev.waitFor(/service listening on/, 30_000)
  const state = readDevStateIn(root)
  assert.ok(state)
  const pids = [state.pid, ...childPids(state.pid)]
  dev.type('\x03')
  await dev.waitFor(/SIGINT received: stopping \(again to force\)/)
  dev.type('\x03')
  assert.equal((await dev.exited).code, 130)
  await waitUntilGone(pids)
})
