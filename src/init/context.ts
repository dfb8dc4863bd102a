import type { ProjectSettings, Store } from '../project/settings.js'
import type { PackageManager } from './package-manager.js'

/** The flags of `gatekeep init` as commander hands them over; absent ones may be prompted for. */
export interface InitFlags {
  name?: string
  port: number
  providerPort: number
  delay: number
  store?: Store
  install?: boolean
  git?: boolean
  force?: boolean
  yes?: boolean
}

/** Where and how gatekeep was started. */
export interface InitEnvironment {
  cwd: string
  /** A person is at the keyboard: prompts are allowed. */
  interactive: boolean
  packageManager: PackageManager
}

/** Everything the steps after resolve-options need, every value decided. */
export interface InitContext extends InitEnvironment {
  targetDir: string
  name: string
  settings: ProjectSettings
  install: boolean
  git: boolean
  force: boolean
}

/** The person cancelled a prompt or interrupted the write; nothing is left written. */
export class InitCancelled extends Error {
  /** 130 (128 + SIGINT) unless another signal did it. */
  constructor(readonly exitCode = 130) {
    super('cancelled')
  }
}
