import type { FastifyInstance } from 'fastify'

/**
 * Registered only under `gatekeep dev` (GATEKEEP_DEV=1): lets `gatekeep simulate-abort` ask which
 * of its requests this service saw aborted, when, and whether their provider calls were cancelled.
 */
export default async function devRoutes(fastify: FastifyInstance) {
  fastify.get<{ Querystring: { ids?: string } }>('/__gatekeep/aborts', async (request) => {
    const ids = (request.query.ids ?? '').split(',').filter(Boolean)
    const found = new Map(fastify.aborts.find(ids).map((record) => [record.requestId, record]))
    return {
      results: ids.map((requestId) => {
        const record = found.get(requestId)
        return {
          requestId,
          detected: record !== undefined,
          detectedAt: record?.detectedAt ?? null,
          cancelled: record?.cancelled ?? null,
        }
      }),
    }
  })
}
