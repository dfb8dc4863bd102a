import { createServer, type Server } from 'node:net'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

// Where the tests get their ports: each free when handed out, and never handed out twice by one
// test file (whose tests may run side by side), though the system would choose one again once
// it is released.

const HIGHEST_PORT = 65535
const handedOut = new Set<number>()

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve)
  })
  return (server.address() as { port: number }).port
}

async function close(server: Server): Promise<void> {
  await new Promise((resolve) => server.close(resolve))
}

/** A port the system chooses, released at once. */
async function systemChosenPort(): Promise<number> {
  const server = createServer()
  const port = await listen(server, 0)
  await close(server)
  return port
}

/** A loopback port nothing listens on now, not handed out before. */
export async function freePort(): Promise<number> {
  return freePortRange(1)
}

/** The first of `count` consecutive such ports. */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const first = await systemChosenPort()
    const ports = Array.from({ length: count }, (_, index) => first + index)
    if (first + count - 1 > HIGHEST_PORT || ports.some((port) => handedOut.has(port))) continue
    if (!(await Promise.all(ports.slice(1).map(portIsFree))).every(Boolean)) continue
    for (const port of ports) handedOut.add(port)
    return first
  }
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer()
  try {
    await listen(server, port)
  } catch {
    return false
  }
  await close(server)
  return true
}

/** Resolves once the port can be bound; the kernel frees a killed process's ports a moment late. */
export async function waitUntilPortFree(port: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await portIsFree(port))) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

/** Listens on `port` (by default, one of the system's choosing) until the test ends: a taken port. */
export async function holdPort(t: TestContext, port = 0): Promise<number> {
  const server = createServer()
  const held = await listen(server, port)
  handedOut.add(held)
  t.after(() => close(server))
  return held
}
