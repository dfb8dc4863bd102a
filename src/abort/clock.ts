import { performance } from 'node:perf_hooks'

/**
 * Epoch milliseconds with sub-millisecond precision. The service stamps its detections the same
 * way, so on one machine the two clocks can be subtracted.
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}
