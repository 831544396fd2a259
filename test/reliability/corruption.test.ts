/**
 * A corrupt value in the server's LevelDB (bytes flipped in stored chunks while it was
 * down) is detected by its checksum, logged, counted and moved aside; the server starts,
 * never crashes on it, never hands the corrupt bytes to Automerge or to a client, and the
 * document heals: from its other chunks where they suffice, and from a peer that has it.
 */
import { QUARANTINE_PREFIX } from '@parley/core'
import type { ParleyClient } from '@parley/client'
import { Level } from 'level'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { allTexts, connectClient, metricValue, scrape } from './support/clients.ts'
import { eventually } from './support/random.ts'
import { recordResult } from './support/results.ts'
import { checkStoredDocuments } from './support/storage-check.ts'

/** Flips one byte in the data part of every stored chunk of `documentId` (or only the first `limit`); returns the keys. */
async function flipChunks(dataDir: string, documentId: string, limit = Infinity): Promise<string[]> {
  const db = new Level<string, Uint8Array>(join(dataDir, 'db'), { valueEncoding: 'view' })
  await db.open()
  const flipped: string[] = []
  try {
    for await (const [key, value] of db.iterator({ gte: `${documentId}\0`, lt: `${documentId}\u0001` })) {
      const kind = key.split('\0')[1]
      if ((kind !== 'snapshot' && kind !== 'incremental') || flipped.length >= limit) continue
      const copy = Uint8Array.from(value)
      copy[Math.floor(copy.length / 2)]! ^= 0x5a
      await db.put(key, copy)
      flipped.push(key)
    }
  } finally {
    await db.close()
  }
  return flipped
}

describe('a corrupt stored chunk', () => {
  let server: ServerProcess
  const clients: ParleyClient[] = []
  beforeAll(async () => {
    server = await ServerProcess.start()
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await server?.stop()
  })

  it('is detected, logged and skipped; the document heals from a peer and from its other chunks', async () => {
    const alice = await connectClient(server, 'alice')
    clients.push(alice)
    const conversation = await alice.createConversation({ members: ['bob'] })
    const texts = Array.from({ length: 30 }, (_, i) => `message ${i}`)
    for (const text of texts) await conversation.send(text)
    await alice.sync()
    const [headId, segmentId] = conversation.documentIds() as [string, string]

    // Down: every chunk of the segment corrupt (only a peer can heal it), one chunk of the head.
    await server.kill('SIGTERM')
    const flippedSegment = await flipChunks(server.dataDir, segmentId)
    const flippedHead = await flipChunks(server.dataDir, headId, 1)
    expect(flippedSegment.length).toBeGreaterThan(0)
    await server.restart()

    // Bob's fresh device asks first: the server must not serve the corrupt segment.
    const bob = await connectClient(server, 'bob')
    clients.push(bob)
    await bob.sync({ timeout: 30_000 }).catch(() => undefined)
    const httpUrl = `http://127.0.0.1:${server.port}`
    await eventually('the corruption to be counted', async () => metricValue(await scrape(httpUrl), 'parley_storage_corrupt_values_total') >= 1, 20_000)
    expect(server.log).toMatch(/storage: corrupt value quarantined/)
    // Alice, who has everything, reconnects on her own and heals the server; Bob then gets it all.
    await alice.sync({ timeout: 30_000 })
    await bob.sync({ timeout: 30_000 })
    expect(await allTexts(await bob.conversation(conversation.id))).toEqual(texts)
    const corrupt = metricValue(await scrape(httpUrl), 'parley_storage_corrupt_values_total')

    // What is on disk now loads cleanly and holds every message; the corrupt bytes sit in quarantine.
    await server.kill('SIGTERM')
    const stored = await checkStoredDocuments(server.dataDir)
    expect(stored.corrupt).toEqual([])
    expect(stored.unloadable).toEqual([])
    expect(texts.filter(text => !stored.texts.has(text))).toEqual([])
    const db = new Level<string, Uint8Array>(join(server.dataDir, 'db'), { valueEncoding: 'view' })
    await db.open()
    let quarantined = 0
    for await (const _key of db.keys({ gte: `${QUARANTINE_PREFIX}\0`, lt: `${QUARANTINE_PREFIX}\u0001` })) quarantined++
    await db.close()
    expect(quarantined).toBeGreaterThanOrEqual(flippedSegment.length)
    await server.restart()
    await recordResult('corruption', { flippedSegmentChunks: flippedSegment.length, flippedHeadChunks: flippedHead.length, corruptValuesCounted: corrupt, quarantined, messages: texts.length })
  })
})
