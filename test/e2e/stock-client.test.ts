import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { readHead, type HeadDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'

describe('a stock automerge-repo client', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  const repos: Repo[] = []
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    for (const repo of repos) for (const adapter of repo.networkSubsystem.adapters) adapter.disconnect()
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

    const created = bob.create<{ note: string }>()
    created.change(doc => (doc.note = 'from a stock client'))
    const carol = await stockRepo('carol')
    const found = await carol.find<{ note: string }>(created.documentId)
    expect(found.doc().note.toString()).toBe('from a stock client')
  })
})
