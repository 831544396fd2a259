/**
 * docs/errors.md must list every error code and close code the packages define, and
 * nothing they do not: the two drift apart silently otherwise.
 */
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['core', 'sync-server', 'clients/sdk', 'clients/react', 'clients/cli']

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  return entries.filter(entry => entry.isFile() && entry.name.endsWith('.ts')).map(entry => join(entry.parentPath, entry.name))
}

async function codesInSources(pattern: RegExp): Promise<Set<string>> {
  const codes = new Set<string>()
  for (const pkg of PACKAGES) {
    for (const file of await sources(join(ROOT, pkg, 'src'))) {
      for (const match of (await readFile(file, 'utf8')).matchAll(pattern)) codes.add(match[1]!)
    }
  }
  return codes
}

describe('docs/errors.md', () => {
  it('lists exactly the PARLEY_ERR_* codes the code defines', async () => {
    const doc = await readFile(join(ROOT, 'docs/errors.md'), 'utf8')
    const documented = new Set([...doc.matchAll(/^\| `(PARLEY_ERR_[A-Z_]+)`/gm)].map(match => match[1]!))
    const defined = await codesInSources(/'(PARLEY_ERR_[A-Z_]+)'/g)
    expect([...defined].sort()).toEqual([...documented].sort())
  })

  it('lists exactly the WebSocket close codes the server defines', async () => {
    const doc = await readFile(join(ROOT, 'docs/errors.md'), 'utf8')
    const documented = new Set([...doc.matchAll(/^\| `(4\d{3})`/gm)].map(match => match[1]!))
    const source = await readFile(join(ROOT, 'sync-server/src/close-codes.ts'), 'utf8')
    const defined = new Set([...source.matchAll(/:\s*(4\d{3})\b/g)].map(match => match[1]!))
    expect(defined.size).toBeGreaterThan(0)
    expect([...defined].sort()).toEqual([...documented].sort())
  })
})
