import type { Config } from '../config.js'
import { createMemoryStore } from './memory.js'
import type { GateStore } from './types.js'

/** The store this project was generated with (`gatekeep init --store memory`). */
export function createStore(_config: Config): GateStore {
  return createMemoryStore()
}
