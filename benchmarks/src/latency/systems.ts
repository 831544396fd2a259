/**
 * The systems the latency benchmark compares, in the order the table lists them. Each
 * (under systems/) says how to start its server and how a sender and a receiver talk
 * to it; every one carries the same ~100-byte text.
 */
import { hocuspocus, runHocuspocus } from './systems/hocuspocus.ts'
import { parley, parleyReading, parleyReadingAtOnce, parleyRepoPath, parleyTyping } from './systems/parley.ts'
import { parleyLeanReceiver } from './systems/parley-lean.ts'
import { rawRelay, runRawRelay } from './systems/raw.ts'
import { runSocketIo, socketIo } from './systems/socketio.ts'
import { runStockServer, stockAutomergeRepo } from './systems/stock.ts'
import type { System } from './systems/system.ts'

export type { ClientSide, System } from './systems/system.ts'

export const SYSTEMS = { raw: rawRelay, socketio: socketIo, hocuspocus, stock: stockAutomergeRepo, parley, parleyReading, parleyReadingAtOnce, parleyTyping, parleyLean: parleyLeanReceiver, parleyRepo: parleyRepoPath } satisfies Record<string, System>
export type SystemKey = keyof typeof SYSTEMS

/** The baselines' servers, started in their own process by the worker's `server` mode. */
export const SERVERS: Partial<Record<SystemKey, (port: number, dataDir: string) => void | Promise<void>>> = {
  raw: runRawRelay,
  socketio: runSocketIo,
  hocuspocus: runHocuspocus,
  stock: runStockServer,
}
