import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { buildReplica } from '@parley/benchmarks/replica'
import { LevelStorageAdapter, readHead, type HeadDoc, type LevelDatabase } from '@parley/core'
import { Level } from 'level'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const base = 'http://127.0.0.1:8899'
const t0 = performance.now()
const dir = await mkdtemp(join(tmpdir(), 'seed-'))
const N = 100_000
const id = await buildReplica(dir, N)
const t1 = performance.now()
console.log('built', ((t1 - t0) / 1000).toFixed(1), 's')
const token = ((await (await fetch(`${base}/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })).json()) as { token: string }).token
const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
const adapter = new WebSocketClientAdapter(`ws://127.0.0.1:8899/sync?token=${token}`)
const repo = new Repo({ storage: new LevelStorageAdapter(db as unknown as LevelDatabase), network: [adapter], sharePolicy: async () => true })
const head = await repo.find<HeadDoc>(id as DocumentId)
const segments = readHead(head.doc()).segments
await Promise.all(segments.map(s => repo.find(s as DocumentId)))
const t2 = performance.now()
console.log('loaded', ((t2 - t1) / 1000).toFixed(1), 's')
for (;;) {
  const r = await fetch(`${base}/v1/conversations/${id}/events?after=${N - 1}&limit=1&wait=30`, { headers: { authorization: `Bearer ${token}` } })
  const body = (await r.json()) as { events?: unknown[] }
  console.log(r.status, body.events?.length, ((performance.now() - t2) / 1000).toFixed(1))
  if (body.events?.length === 1) break
  if (r.status !== 200) await new Promise(res => setTimeout(res, 500))
}
console.log('uploaded', ((performance.now() - t2) / 1000).toFixed(1), 's', id)
adapter.disconnect()
await repo.shutdown().catch(() => {})
await db.close()
