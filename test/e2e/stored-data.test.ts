/**
 * A data directory written before the relay core became the default (segments on the
 * automerge-repo Repo, 2026-12-05: test/fixtures/write-stored-data.ts wrote it) opens and
 * is served unchanged by today's server, which writes on top of it (its event index moved
 * into the documents' database, numbers kept); afterwards a stock
 * automerge-repo Repo on the same storage still loads every document (issue 15, item 1).
 */
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { LevelStorageAdapter, readHead, readSegmentEvents, type HeadDoc, type LevelDatabase, type SegmentDoc } from '@parley/core'
import { Level } from 'level'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/stored-data-2026-12-05/', import.meta.url))

interface Expected {
  conversationId: string
  segments: string[]
  texts: string[]
  edited: { id: string; text: string; reactions: Record<string, string[]> }
}

describe('data stored by the repo path (2026-12-05)', () => {
  const pool = new ClientPool()
  let server: ServerProcess | undefined
  let dataDir: string | undefined
  afterEach(async () => {
    await pool.closeAll()
    await server?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('is served unchanged by the relay core, which writes on top of it; a stock Repo still loads every document', async () => {
    const expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8')) as Expected
    dataDir = await mkdtemp(join(tmpdir(), 'parley-stored-data-'))
    await cp(FIXTURE, dataDir, { recursive: true })
    server = await ServerProcess.start([], { dataDir })
    // Its event index moved into the documents' database (sync-server storage/merge-events.ts).
    expect(existsSync(join(dataDir, 'events'))).toBe(false)

    const bob = await pool.connect(server, 'bob')
    await bob.sync()
    const bobs = await bob.conversation(expected.conversationId)
    expect(bobs.head().segments).toEqual(expected.segments)
    // The newest page first; the whole history once every segment is loaded.
    while (await bobs.loadOlder()) {}
    const timeline = await timelineWhere(bobs, items => items.length === expected.texts.length)
    expect(timeline.map(item => item.text)).toEqual(expected.texts)
    expect(timeline.find(item => item.id === expected.edited.id)).toMatchObject({ text: expected.edited.text, reactions: expected.edited.reactions })

    const authorization = `Bearer ${await server.token('alice')}`
    const page = (await (await fetch(`${server.url.replace(/^ws/, 'http')}/v1/conversations/${expected.conversationId}/events?after=0&limit=500`, { headers: { authorization } })).json()) as { events: { seq: number; text?: string; type: string }[] }
    expect(page.events.map(event => event.seq)).toEqual(page.events.map((_, index) => index + 1))
    expect(page.events.filter(event => event.type === 'message').map(event => event.text)).toEqual(expect.arrayContaining(expected.texts.filter(text => text !== expected.edited.text)))

    await bobs.send('written by the relay core')
    await bob.sync()
    const alice = await pool.connect(server, 'alice')
    await alice.sync()
    const alices = await alice.conversation(expected.conversationId)
    while (await alices.loadOlder()) {}
    const after = await timelineWhere(alices, items => items.length === expected.texts.length + 1)
    expect(after.map(item => item.text)).toEqual([...expected.texts, 'written by the relay core'])

    await pool.closeAll()
    // A graceful stop writes every change log; then a stock Repo reads the same storage.
    await server.kill('SIGTERM')
    const db = new Level<string, Uint8Array>(join(dataDir, 'db'), { valueEncoding: 'view' })
    const repo = new Repo({ storage: new LevelStorageAdapter(db as unknown as LevelDatabase), network: [] })
    try {
      const head = await repo.find<HeadDoc>(expected.conversationId as DocumentId)
      expect(readHead(head.doc()).segments).toEqual(expected.segments)
      const texts: (string | undefined)[] = []
      for (const segmentId of expected.segments) {
        const segment = await repo.find<SegmentDoc>(segmentId as DocumentId)
        for (const event of readSegmentEvents(segment.doc()).events) if (event.type === 'message') texts.push(event.text)
      }
      expect(texts).toEqual(expect.arrayContaining([...expected.texts.filter(text => text !== expected.edited.text), 'written by the relay core']))
    } finally {
      await repo.shutdown()
      await db.close()
    }
  })
})
