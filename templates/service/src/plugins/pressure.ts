import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import type { PressureConfig } from '../config.js'

/**
 * Measures the process. Its default answer, a global 503, would fail liveness probes and refuse
 * the very webhook that opens the gate; so nothing is refused here, and only the gated routes
 * and readiness consult `isUnderPressure()`.
 */
export default fp(
  async function pressure(fastify, thresholds: PressureConfig) {
    await fastify.register(underPressure, {
      maxEventLoopDelay: thresholds.maxEventLoopDelayMs,
      maxEventLoopUtilization: thresholds.maxEventLoopUtilization,
      maxHeapUsedBytes: thresholds.maxHeapUsedBytes,
      maxRssBytes: thresholds.maxRssBytes,
      pressureHandler: () => undefined,
    })
  },
  { name: 'pressure' },
)
