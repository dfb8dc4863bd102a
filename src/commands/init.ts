import type { Command } from 'commander'

// Placeholder until the scaffolder lands.
export function registerInit(program: Command): void {
  program.command('init [dir]').description('write a new gatekeep service')
}
