// Messages from `gatekeep dev` to the processes it runs, over their IPC channel.

/** Import the entry: this process becomes the service (or the provider). */
export interface StartMessage {
  type: 'start'
  /** Absolute path of the entry file. */
  entry: string
}

export type RunnerMessage = StartMessage
