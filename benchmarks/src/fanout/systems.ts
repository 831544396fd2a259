/**
 * The systems the fanout benchmark compares, in table order; their servers are the
 * latency benchmark's (latency/systems/), their members and senders are here.
 */
import { hocuspocusFanout } from './hocuspocus.ts'
import { parleyFanout } from './parley.ts'
import { rawFanout } from './raw.ts'
import { socketIoFanout } from './socketio.ts'
import { stockFanout } from './stock.ts'
import type { FanoutSystem } from './system.ts'

export const FANOUT_SYSTEMS = { raw: rawFanout, socketio: socketIoFanout, hocuspocus: hocuspocusFanout, stock: stockFanout, parley: parleyFanout } satisfies Record<string, FanoutSystem>
export type FanoutKey = keyof typeof FANOUT_SYSTEMS
