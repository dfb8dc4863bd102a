import validate from 'validate-npm-package-name'

/** Why npm would refuse `name` for a new package, or undefined when it is fine. */
export function packageNameProblem(name: string): string | undefined {
  const result = validate(name)
  if (result.validForNewPackages) return undefined
  return [...(result.errors ?? []), ...(result.warnings ?? [])][0] ?? 'npm refuses this name'
}

/** A folder name turned into an npm name: `My Service!` becomes `my-service`. */
export function packageNameFromFolder(folderName: string): string {
  return folderName
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-._]+/, '')
    .replace(/[-.]+$/, '')
}
