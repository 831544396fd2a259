/** The systems the catch-up benchmark compares: each has a server (bench:latency's), a writer and a device. */
import type { SystemKey } from '../latency/systems.ts'
import { hocuspocusWriter, parleyWriter, stockWriter, type Writer } from './writers.ts'

export type CatchUpKey = 'stock' | 'hocuspocus' | 'parley'

export const CATCH_UP_SYSTEMS: Record<CatchUpKey, { server: SystemKey; writer: (server: { url: string; httpUrl: string }) => Promise<Writer> }> = {
  stock: { server: 'stock', writer: ({ url }) => stockWriter(url) },
  hocuspocus: { server: 'hocuspocus', writer: ({ url }) => hocuspocusWriter(url) },
  parley: { server: 'parley', writer: ({ httpUrl }) => parleyWriter(httpUrl) },
}
