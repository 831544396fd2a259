import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStorageAdapter } from '../../src/index.ts'

// The suite registers a file-wide beforeEach, so each adapter gets its own file.
runStorageAdapterTests(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-level-'))
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  return {
    adapter: new LevelStorageAdapter(db),
    teardown: async () => {
      await db.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}, 'LevelStorageAdapter over classic-level')
