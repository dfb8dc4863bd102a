export type PackageManagerName = 'npm' | 'pnpm' | 'yarn' | 'bun'

export interface PackageManager {
  name: PackageManagerName
  /** The words to type to run a package.json script, e.g. `pnpm dev`. */
  runScript(script: string): string
}

const RUN_PREFIX: Record<PackageManagerName, string> = {
  npm: 'npm run',
  pnpm: 'pnpm',
  yarn: 'yarn',
  bun: 'bun run',
}

function isPackageManagerName(name: string): name is PackageManagerName {
  return Object.hasOwn(RUN_PREFIX, name)
}

/**
 * The package manager that launched gatekeep (`pnpm dlx`, `yarn create`, `bunx`, `npx`), read
 * from the user agent each of them sets for the processes it runs; npm when there is none.
 */
export function detectPackageManager(userAgent: string | undefined): PackageManager {
  const candidate = userAgent?.split('/', 1)[0] ?? ''
  const name = isPackageManagerName(candidate) ? candidate : 'npm'
  return { name, runScript: (script) => `${RUN_PREFIX[name]} ${script}` }
}
