import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { appendEvent, readHead, type HeadDoc, type SegmentDoc } from '@parley/core'
import { stopStockAdapter } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

describe('a stock automerge-repo client', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  const repos: Repo[] = []
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    for (const repo of repos) for (const adapter of repo.networkSubsystem.adapters) stopStockAdapter(adapter)
    await pool.closeAll()
    await server?.stop()
  })

  async function stockRepo(user: string): Promise<Repo> {
    const adapter = new WebSocketClientAdapter(`${server.url}/sync?token=${await server.token(user)}`)
    const repo = new Repo({ network: [adapter] })
    repos.push(repo)
    await adapter.whenReady()
    return repo
  }

  it('reads a Parley conversation and syncs its own documents through the server', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ title: 'interop', members: ['bob'] })
    await alice.sync()

    const bob = await stockRepo('bob')
    const head = await bob.find<HeadDoc>(conversation.id as DocumentId)
    expect(readHead(head.doc())).toMatchObject({ title: 'interop', kind: 'group' })

    // Bob writes with nothing but core's document functions: the server accepts it as his.
    const segment = await bob.find<SegmentDoc>(readHead(head.doc()).segments[0] as DocumentId)
    segment.change(doc => appendEvent(doc, { id: 'from-stock', type: 'message', author: 'bob', device: 'stock', at: Date.now(), text: 'from a stock client' }))
    const timeline = await timelineWhere(conversation, items => items.some(item => item.id === 'from-stock'))
    expect(timeline.find(item => item.id === 'from-stock')).toMatchObject({ author: 'bob', text: 'from a stock client' })
  })

  it('may not store documents that are not Parley documents', async () => {
    const adapter = new WebSocketClientAdapter(`${server.url}/sync?token=${await server.token('mallory')}`)
    const repo = new Repo({ network: [adapter] })
    repos.push(repo)
    await adapter.whenReady()
    // The adapter's socket is a `ws` WebSocket here (Node).
    const socket = (adapter as unknown as { socket: { once(event: 'close', listener: (code: number) => void): void } }).socket
    const code = new Promise<number>(resolve => socket.once('close', resolve))
    repo.create<{ note: string }>().change(doc => (doc.note = 'anything'))
    expect(await code).toBe(4403)
  })
})
