import { buildReplica } from '@parley/benchmarks/replica'
import { createClient } from '@parley/client'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const t0 = performance.now()
const dir = await mkdtemp(join(tmpdir(), 'seed-'))
const id = await buildReplica(dir, 100_000)
const t1 = performance.now()
console.log('built', ((t1 - t0) / 1000).toFixed(1), 's')
const token = ((await (await fetch('http://127.0.0.1:8899/v1/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })).json()) as { token: string }).token
const client = await createClient({ server: 'ws://127.0.0.1:8899', token, storage: { kind: 'level', dir } })
const conversation = await client.conversation(id)
while (conversation.hasOlder()) await conversation.loadOlder(100_000)
const t2 = performance.now()
console.log('loaded', ((t2 - t1) / 1000).toFixed(1), 's')
await client.sync({ timeout: 600_000 })
await client.close()
console.log('uploaded', ((performance.now() - t2) / 1000).toFixed(1), 's', id)
