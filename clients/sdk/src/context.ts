import type { DocHandle, Repo } from '@automerge/automerge-repo/slim'
import type { HybridClock, Limits } from '@parley/core'
import type { Attachments } from './attachments/index.ts'
import type { RecentEvents } from './recent-events.ts'

/** What a conversation needs from its client. */
export interface ClientContext {
  readonly repo: Repo
  readonly user: string
  readonly device: string
  readonly clock: HybridClock
  readonly limits: Limits
  readonly segmentSize: number
  readonly pageSize: number
  /** How often a conversation writes this device's read cursor at most (read-cursor.ts). */
  readonly readCursorIntervalMs: number
  /** Events appended or read lately, by their stored JSON: an insert of one needs no parse (event-log.ts, search/). */
  readonly recent: RecentEvents
  /** Find a document locally or from the server; undefined when nobody has it. */
  find<T>(id: string): Promise<DocHandle<T> | undefined>
  /** Write changed documents to local storage and remember them until the server has them. */
  persist(handles: DocHandle<unknown>[]): Promise<void>
  /** Files sent and fetched (attachments/); set once the client has opened it. */
  attachments?: Attachments
}
