// The store this project was generated with. `gatekeep init --store redis` makes this line
// `export { createRedisStore as createStore } from './redis.js'`: several instances then share
// one handshake through Redis.
export { createMemoryStore as createStore } from './memory.js'
