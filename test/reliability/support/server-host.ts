/**
 * A sync server in a child process of its own, started with --expose-gc, that answers
 * measurements over IPC: heap and RSS after a full garbage collection, and the sizes of
 * the automerge-repo maps and listener lists that could grow per peer or per document.
 * Real server code, real LevelDB, real sockets; only the process wrapper is the test's.
 *
 *   node --expose-gc --import tsx server-host.ts '<ServerOptions as JSON>'
 */
import type { Repo } from '@automerge/automerge-repo'
import { createParleyServer, type ServerOptions } from '@parley/sync-server'
import { getHeapSnapshot } from 'node:v8'

declare const gc: () => void

export interface HostMeasurement {
  heapUsed: number
  rss: number
  external: number
  arrayBuffers: number
  maps: Record<string, number>
  /** Unhandled promise rejections the server process saw (counted, not fatal, so a test can report them). */
  unhandledRejections: number
}

export type HostRequest = { type: 'measure' } | { type: 'close' } | { type: 'census' }

function countMaps(repo: Repo): Record<string, number> {
  const { networkSubsystem, synchronizer } = repo
  const adapter = networkSubsystem.adapters[0] as unknown as { connectionCount: number; listenerCount(event: string): number }
  const sizes: Record<string, number> = {
    'repo.handles': Object.keys(repo.handles).length,
    'repo.peerMetadataByPeerId': Object.keys(repo.peerMetadataByPeerId).length,
    'synchronizer.docSynchronizers': Object.keys(synchronizer.docSynchronizers).length,
    'synchronizer.peers': synchronizer.peers.length,
    'adapter.connections': adapter.connectionCount,
  }
  for (const [name, emitter] of [
    ['repo', repo],
    ['networkSubsystem', networkSubsystem],
    ['synchronizer', synchronizer],
    ['adapter', adapter],
  ] as const) {
    const events = (emitter as unknown as { eventNames(): (string | symbol)[] }).eventNames()
    sizes[`${name}.listeners`] = events.reduce((sum, event) => sum + (emitter as unknown as { listenerCount(e: string | symbol): number }).listenerCount(event), 0)
  }
  // Per-document synchronizers: the peers each one tracks.
  let docPeers = 0
  for (const doc of Object.values(synchronizer.docSynchronizers)) docPeers += (doc as unknown as { peers?: string[] }).peers?.length ?? 0
  sizes['docSynchronizers.peers'] = docPeers
  let handleListeners = 0
  for (const handle of Object.values(repo.handles)) {
    const emitter = handle as unknown as { eventNames(): (string | symbol)[]; listenerCount(e: string | symbol): number }
    for (const event of emitter.eventNames()) handleListeners += emitter.listenerCount(event)
  }
  sizes['handles.listeners'] = handleListeners
  return sizes
}

/** Live objects by constructor name (count and self size), from a heap snapshot: what is retained, and by whom. */
async function census(): Promise<Record<string, { count: number; bytes: number }>> {
  const chunks: Buffer[] = []
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer)
  const snapshot = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] }
  const fields = snapshot.snapshot.meta.node_fields
  const typeIndex = fields.indexOf('type')
  const nameIndex = fields.indexOf('name')
  const sizeIndex = fields.indexOf('self_size')
  const types = snapshot.snapshot.meta.node_types[0]
  const result: Record<string, { count: number; bytes: number }> = {}
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeIndex]!]
    if (type !== 'object' && type !== 'closure' && type !== 'array') continue
    const name = `${type}:${snapshot.strings[snapshot.nodes[i + nameIndex]!]}`
    const entry = (result[name] ??= { count: 0, bytes: 0 })
    entry.count++
    entry.bytes += snapshot.nodes[i + sizeIndex]!
  }
  return result
}

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

let unhandledRejections = 0
process.on('unhandledRejection', error => {
  unhandledRejections++
  if (unhandledRejections <= 3) process.stderr.write(`[server-host] unhandled rejection: ${String((error as Error)?.stack ?? error)}\n`)
})

const options = JSON.parse(process.argv[2] ?? '{}') as ServerOptions
const server = await createParleyServer({ port: 0, logLevel: 'warn', ...options })
const url = await server.listen()
process.send!({ type: 'listening', url })
process.on('message', async (request: HostRequest) => {
  if (request.type === 'measure') {
    await settle()
    const memory = process.memoryUsage()
    const measurement: HostMeasurement = { heapUsed: memory.heapUsed, rss: memory.rss, external: memory.external, arrayBuffers: memory.arrayBuffers, maps: countMaps(server.repo), unhandledRejections }
    process.send!({ type: 'measured', measurement })
  } else if (request.type === 'census') {
    await settle()
    process.send!({ type: 'census', census: await census() })
  } else if (request.type === 'close') {
    await server.close()
    process.send!({ type: 'closed' })
    process.exit(0)
  }
})
