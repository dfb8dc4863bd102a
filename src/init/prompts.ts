// Loaded only when a person is at the keyboard and a value is missing: @clack/prompts stays out
// of every other run.
import { confirm, intro, isCancel, select, text } from '@clack/prompts'
import { STORES, type Store } from '../project/settings.js'
import { InitCancelled } from './context.js'

function answered<T>(value: T | symbol): Exclude<T, symbol> {
  if (isCancel(value)) throw new InitCancelled()
  return value as Exclude<T, symbol>
}

export function introduce(): void {
  intro('gatekeep init')
}

export async function askDirectory(
  defaultDir: string,
  problemWith: (dir: string) => string | undefined,
): Promise<string> {
  return answered(
    await text({
      message: 'Where should the project go?',
      placeholder: defaultDir,
      defaultValue: defaultDir,
      validate: (value) => problemWith(value || defaultDir),
    }),
  )
}

export async function askName(
  defaultName: string | undefined,
  problemWith: (name: string) => string | undefined,
): Promise<string> {
  return answered(
    await text({
      message: 'Package name?',
      placeholder: defaultName,
      defaultValue: defaultName,
      validate: (value) => problemWith(value || defaultName || ''),
    }),
  )
}

export async function askStore(): Promise<Store> {
  return answered(
    await select<Store>({
      message: 'Where should the provider key be kept?',
      initialValue: 'memory',
      options: STORES.map((store) => ({
        value: store,
        label: store,
        hint: store === 'memory' ? 'one instance' : 'in Redis, shared by several instances',
      })),
    }),
  )
}

export async function askInstall(packageManager: string): Promise<boolean> {
  return answered(await confirm({ message: `Install dependencies with ${packageManager}?` }))
}
