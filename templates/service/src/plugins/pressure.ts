import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import type { PressureConfig } from '../config.js'

/**
 * Measures the process. Its default answer, a global 503, would fail liveness probes and refuse
 * the very webhook that opens the gate; so it is registered in a scope of its own with no routes
 * (its timers measure, its per-request hook never runs), and only the gated routes and
 * readiness consult `isUnderPressure()`.
 */
export default fp(
  async function pressure(fastify, thresholds: PressureConfig) {
    let measured: () => boolean = () => false
    await fastify.register(async function measuring(scope) {
      await scope.register(underPressure, {
        maxEventLoopDelay: thresholds.maxEventLoopDelayMs,
        maxEventLoopUtilization: thresholds.maxEventLoopUtilization,
        maxHeapUsedBytes: thresholds.maxHeapUsedBytes,
        maxRssBytes: thresholds.maxRssBytes,
      })
      measured = () => scope.isUnderPressure()
    })
    // Decorated after the scope above so that under-pressure's own decorator does not clash.
    fastify.decorate('isUnderPressure', () => measured())
  },
  { name: 'pressure' },
)
