// `npm run demo [-- <gatekeep dev flags>]`, from a clone: builds gatekeep, writes ./demo with it
// and installs it the first time (later runs reuse it), runs `gatekeep dev` there with the flags
// given, and says which URL to try. The repository's own: npm does not ship scripts/.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('..', import.meta.url))
const demo = path.join(repo, 'demo')
const gatekeep = path.join(repo, 'bin', 'gatekeep.js')
// Customers from the start: the demo shows their 503s turn into 200s (flags given override it).
const devFlags = ['--traffic', '2', ...process.argv.slice(2)]

function say(line) {
  process.stdout.write(`demo │ ${line}\n`)
}

/** Runs a step to its end; a failed one ends the demo with its exit code (it said why). */
function step(command, args, cwd) {
  // npm is npm.cmd on Windows, which only a shell runs.
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: command === 'npm' && process.platform === 'win32' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

say('building gatekeep')
step('npm', ['run', '--silent', 'build'], repo)
if (!existsSync(path.join(demo, 'package.json'))) {
  step(process.execPath, [gatekeep, 'init', 'demo', '--yes', '--install'], repo)
} else if (!existsSync(path.join(demo, 'node_modules'))) {
  say('installing ./demo')
  step('npm', ['install'], demo)
} else {
  say('reusing ./demo (remove it to start afresh)')
}

const dev = spawn(process.execPath, [gatekeep, 'dev', ...devFlags], { cwd: demo, stdio: 'inherit' })
// Ctrl-C and a closed terminal reach dev itself, with the whole foreground group: this process
// waits for it to stop, rather than stopping it a second time (which would force it).
process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})
process.on('SIGTERM', () => dev.kill('SIGTERM'))
const exited = new Promise((resolve) => dev.on('exit', (code, signal) => resolve(code ?? 128 + constants.signals[signal])))

// The session's own file says where its service listens once it does: flags, the environment
// and the project's settings all decide the port, so it is read rather than guessed.
const stateFile = path.join(demo, '.gatekeep', 'dev.json')
let stopped = false
void exited.then(() => (stopped = true))
while (!stopped) {
  const url = serviceUrl()
  if (url) {
    say(`try it from another terminal: curl -i ${url}/v1/data   (503 + Retry-After until the gate opens, then 200)`)
    break
  }
  await sleep(100)
}
process.exit(await exited)

function serviceUrl() {
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8'))
    return state.pid === dev.pid ? state.services?.[0]?.url : undefined
  } catch {
    return undefined // Not written yet.
  }
}
