/** What every system in the resident benchmark provides. */
import type { SystemKey } from '../latency/systems.ts'

export const SECRET = 'benchmark-secret-not-for-production'

/** Conversation `index`'s seeded text and the user who owns it (1,000 users, so no inbox grows huge). */
export const seedText = (index: number) => `seeded message of conversation ${index} `.padEnd(100, 'x')
export const ownerOf = (index: number) => `user-${index % 1000}`

export interface ResidentSystem {
  /** The latency benchmark's system whose server (and server command) this one uses. */
  server: SystemKey
  /** Extra server arguments. */
  serverArgs?: string[]
  /**
   * Writes `count` conversations of one message each into `dataDir`, with the system's
   * own code, before its server starts; resolves with their IDs (index order).
   */
  seed(dataDir: string, count: number, progress: (done: number) => void): Promise<string[]>
  /** A client for the running server; `touch` writes one message into a conversation and resolves once the server has it. */
  connect(server: { url: string; httpUrl: string }): Promise<{ touch(index: number, id: string, text: string): Promise<void>; close(): Promise<void> }>
}
