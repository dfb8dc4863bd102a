import { CHANNEL_PREFIX, EVENTS_MODULE } from '../project/contract.js'
import type { ChildExit } from './child.js'
import type { FeedEvent, RestartCause } from './feed.js'
import type { LogView, ServiceTag, Source } from './log-view.js'
import { Timeline } from './timeline.js'

function describeExit({ code, signal }: ChildExit): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`
}

/**
 * gatekeep's own lines, told from the session's feed: what dev does with the processes (started,
 * restarted, crashed, silent) and, through one Timeline per instance, what each service's gate
 * does.
 */
export class Narrator {
  readonly #view: LogView
  readonly #timelines: ReadonlyMap<Source, Timeline>
  /** "the service", or "the 3 services": what a restart restarts. */
  readonly #servicesName: string

  constructor(view: LogView, { services, countdown }: { services: readonly ServiceTag[]; countdown: boolean }) {
    this.#view = view
    this.#timelines = new Map(
      services.map((tag) => [tag, new Timeline(view, { countdown, instance: services.length === 1 ? null : tag })] as const),
    )
    this.#servicesName = services.length === 1 ? 'the service' : `the ${services.length} services`
  }

  tell(event: FeedEvent): void {
    const { source } = event
    const timeline = this.#timelines.get(source)
    switch (event.type) {
      case 'restart':
        this.#restart(event.cause, event.provider)
        break
      case 'process-listening':
        this.#view.gatekeep(`${source} listening on ${event.url} after ${Math.round(event.afterMs)} ms`)
        break
      case 'process-stopping':
        timeline?.stop()
        break
      case 'process-exited':
        // The provider's exit is told with what dev does about it (a restart, or the end).
        if (timeline === undefined) break
        timeline.stop()
        this.#view.warn(`the ${source} ${describeExit(event.exit)}; waiting for a change to restart it`)
        break
      case 'process-silent': {
        const waited = `${event.waitedMs / 1000} s`
        this.#view.warn(
          timeline === undefined
            ? `the ${source} is not listening ${waited} after its start; still waiting`
            : `${source}: no "listening" event ${waited} after its start; still waiting (the service publishes it on ${CHANNEL_PREFIX}listening, see ${EVENTS_MODULE})`,
        )
        break
      }
      default:
        timeline?.observe(event)
    }
  }

  /** dev is quitting: no countdown runs on. */
  close(): void {
    for (const timeline of this.#timelines.values()) timeline.stop()
  }

  #restart(cause: RestartCause, provider: boolean): void {
    const services = this.#servicesName
    if (cause.kind === 'change') {
      this.#view.gatekeep(`${cause.file} changed: restarting ${provider ? `the provider and ${services}` : services}`)
    } else if (cause.kind === 'request') {
      this.#view.gatekeep(`restarting ${services}: ${cause.reason}`)
    } else {
      this.#view.warn(`the provider ${describeExit(cause.exit)}; restarting it and ${services}`)
    }
  }
}
