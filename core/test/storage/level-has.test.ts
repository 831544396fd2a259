import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { LevelStorageAdapter } from '../../src/index.ts'

it('has() tells whether anything is stored under a prefix, not under a sibling that merely starts alike', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-level-has-'))
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  const adapter = new LevelStorageAdapter(db)
  await adapter.save(['docA', 'snapshot', 'h1'], Uint8Array.of(1))
  expect(await adapter.has(['docA'])).toBe(true)
  expect(await adapter.has(['doc'])).toBe(false)
  expect(await adapter.has(['docB'])).toBe(false)
  await adapter.removeRange(['docA'])
  expect(await adapter.has(['docA'])).toBe(false)
  await db.close()
  await rm(dir, { recursive: true, force: true })
})
