/**
 * Reads a stopped server's document database directly, the way automerge-repo loads it:
 * every document's chunks through the checksummed adapter, each one loaded by Automerge.
 * Anything corrupt or unloadable is returned, not thrown.
 */
import { next as Automerge } from '@automerge/automerge'
import { LevelStorageAdapter, QUARANTINE_PREFIX, readSegmentEvents, type SegmentDoc } from '@parley/core'
import { Level } from 'level'
import { join } from 'node:path'

export interface StorageCheck {
  documents: number
  chunks: number
  corrupt: string[]
  unloadable: string[]
  /** Message texts of every segment document. */
  texts: Set<string>
}

export async function checkStoredDocuments(dataDir: string): Promise<StorageCheck> {
  const db = new Level<string, Uint8Array>(join(dataDir, 'db'), { valueEncoding: 'view' })
  await db.open()
  const corrupt: string[] = []
  const unloadable: string[] = []
  const texts = new Set<string>()
  let chunks = 0
  const ids = new Set<string>()
  try {
    for await (const key of db.keys()) {
      const [id, kind] = key.split('\0')
      if (id !== QUARANTINE_PREFIX && (kind === 'snapshot' || kind === 'incremental')) ids.add(id!)
    }
    const adapter = new LevelStorageAdapter(db, { onCorrupt: key => corrupt.push(key.join('/')) })
    for (const id of ids) {
      const stored = (await adapter.loadRange([id])).filter(({ key }) => key[1] === 'snapshot' || key[1] === 'incremental')
      chunks += stored.length
      try {
        const doc = stored.reduce((d, { data }) => Automerge.loadIncremental(d, data!), Automerge.init<SegmentDoc>())
        if (Array.isArray(doc.events)) for (const event of readSegmentEvents(doc).events) if (event.type === 'message') texts.add(event.text)
      } catch (error) {
        unloadable.push(`${id}: ${(error as Error).message}`)
      }
    }
  } finally {
    await db.close()
  }
  return { documents: ids.size, chunks, corrupt, unloadable, texts }
}
