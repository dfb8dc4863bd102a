// The settings a generated project keeps under "gatekeep" in its package.json.

export const STORES = ['memory', 'redis'] as const
export type Store = (typeof STORES)[number]

export interface ProjectSettings {
  port: number
  providerPort: number
  delay: number
  store: Store
}

export const DEFAULT_SETTINGS: ProjectSettings = {
  port: 3000,
  providerPort: 4000,
  delay: 5000,
  store: 'memory',
}
