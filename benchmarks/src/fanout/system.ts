/** What every system in the fanout benchmark provides. */
import type { SystemKey } from '../latency/systems.ts'

/** The HS256 secret Parley's server is started with; members mint their tokens with it. */
export const SECRET = 'benchmark-secret-not-for-production'

export interface Group {
  /** What a member needs to join the group: a room, document name or document ID. */
  id: string
  /** The sender posts one text to the group (the coordinator stamps the time just before). */
  send(text: string): void
  close(): Promise<void>
}

export interface FanoutSystem {
  /** The latency benchmark's system whose server (and server command) this one uses. */
  server: SystemKey
  /** Extra server arguments for a group of this many members. */
  serverArgs?: (members: number) => string[]
  /** Coordinator: makes the group of `users` and a connected sender in it. */
  createGroup(server: { url: string; httpUrl: string; users: string[] }): Promise<Group>
  /**
   * Worker: connects one member and joins it to the group; `onText` is called with each
   * message that arrives after this resolves. Resolves with a function that disconnects.
   */
  join(url: string, user: string, group: string, onText: (text: string) => void): Promise<() => void>
}

const PAD = 'x'.repeat(100)

/** Message `index` as a 100-byte text; `indexOf` reads the index back. */
export const textOf = (index: number): string => `${index}|${PAD}`.slice(0, 100)
export const indexOf = (text: string): number => Number.parseInt(text, 10)

export function opened(socket: { once(event: string, listener: (...args: never[]) => void): unknown }): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', (error: Error) => reject(error))
    socket.once('unexpected-response', () => reject(new Error('server refused the WebSocket upgrade')))
  })
}
