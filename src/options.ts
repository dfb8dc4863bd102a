import { InvalidArgumentError, Option } from 'commander'

// Parsers for commander options: each refuses a bad value before any command runs.

export function parsePort(value: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected a port from 1 to 65535.')
  }
  return port
}

export function parseNonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number, 0 or more.')
  return Number(value)
}

export function parsePositiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError('expected a whole number, 1 or more.')
  }
  return Number(value)
}

export function parseChoice<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of: ${choices.join(', ')}.`)
    }
    return value as T
  }
}

/** An option taking one of `choices`: listed in the help, and refused in the words of every other bad value. */
export function choiceOption<T extends string>(flags: string, description: string, choices: readonly T[]): Option {
  // choices() lists them in the help; its own refusal ("Allowed choices are") is replaced.
  return new Option(flags, description).choices(choices).argParser(parseChoice(choices))
}
