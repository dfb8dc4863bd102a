#!/usr/bin/env node
// Kept tiny and free of newer syntax so an old Node still reaches the version check.
import module from 'node:module'

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`gatekeep needs Node.js 20.19 or newer; this is ${process.version}.\n`)
  process.exit(1)
}
// Node 22.1+ caches compiled bytecode between runs; 20 has no such cache and skips it.
module.enableCompileCache?.()
await import('../dist/cli.js')
