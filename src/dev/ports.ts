import { createServer } from 'node:net'
import { WorkError } from '../errors.js'

/**
 * Fails, naming the port and the flag that moves it, when something already listens there; checked
 * before anything is spawned so that nothing is left running.
 */
export async function assertPortFree(port: number, host: string, flag: string): Promise<void> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host, exclusive: true }, resolve)
    })
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    if (code === 'EADDRINUSE') throw new WorkError(`port ${port} is already in use; stop what listens there or pass ${flag}.`)
    throw new WorkError(`cannot listen on ${host}:${port}: ${message}`)
  }
  await new Promise<void>((resolve) => server.close(() => resolve()))
}
