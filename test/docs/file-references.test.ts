/**
 * Comments and documents name files that exist: a path from the repository root
 * (`docs/security.md`, `sync-server/src/config.ts`), a bare document or module name
 * (`RESULTS.md`, `watch.ts`) somewhere in the repository, and a Markdown link relative to
 * its file. (They once cited a DESIGN.md and a heads.ts the repository never had.)
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SELF = 'test/docs/file-references.test.ts'
const TOP = ['docs', 'sync-server', 'clients', 'core', 'test', 'benchmarks', 'deploy', 'patches', 'scripts']

/** Tracked and new (not ignored) files: the repository as a clone of it will have it. */
function repositoryFiles(): string[] {
  const list = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean)
  return [...new Set([...list(['ls-files']), ...list(['ls-files', '--others', '--exclude-standard'])])]
}

export function danglingReferences(files: string[], read: (file: string) => string): string[] {
  const exists = new Set(files)
  const dirs = new Set(files.flatMap(file => file.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))))
  const names = new Set(files.map(file => file.split('/').pop()!))
  const found = (path: string) => exists.has(path) || dirs.has(path)
  /** From the repository root, or from a folder the file is in (a package's `test/…`). */
  const foundFrom = (file: string, path: string) => {
    const parts = file.split('/').slice(0, -1)
    return parts.some((_, i) => found(`${parts.slice(0, i + 1).join('/')}/${path}`)) || found(path)
  }
  const dangling: string[] = []
  for (const file of files) {
    if (!/\.(ts|tsx|js|md|sh|conf)$/.test(file) || file.includes('node_modules/') || file === SELF) continue
    const text = read(file)
    const at = (index: number) => `${file}:${text.slice(0, index).split('\n').length}`
    // Repository-rooted paths.
    for (const match of text.matchAll(new RegExp(`(?<![\\w./@-])((?:${TOP.join('|')})/[\\w./-]*\\w\\.(?:ts|tsx|js|md|json|sh|conf|svg|png))\\b`, 'g'))) {
      if (!foundFrom(file, match[1]!)) dangling.push(`${at(match.index)}: ${match[1]}`)
    }
    // Bare document names (DESIGN.md) and module names (heads.ts).
    for (const match of text.matchAll(/(?<![\w./@-])([A-Z][A-Z_-]+\.md|[a-z][\w-]*\.ts)\b(?![\w/])/g)) {
      if (!names.has(match[1]!)) dangling.push(`${at(match.index)}: ${match[1]}`)
    }
    // Markdown links to files, relative to the document.
    if (file.endsWith('.md')) {
      for (const match of text.matchAll(/\]\(((?!https?:|#|mailto:)[^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = normalize(join(dirname(file), match[1]!)).replace(/\/$/, '')
        if (!found(target)) dangling.push(`${at(match.index)}: ${match[1]}`)
      }
    }
  }
  return dangling
}

describe('file references', () => {
  it('finds a missing file named in a comment, a document or a link', () => {
    const files = ['docs/http.md', 'sync-server/src/inbox.ts', 'clients/web/README.md', 'docs/web-client.png']
    const texts: Record<string, string> = {
      'sync-server/src/inbox.ts': '/** Fed by heads.ts (DESIGN.md trap 5); see docs/http.md and docs/nothing.md. */',
      'clients/web/README.md': '![shot](../docs/web-client.png) [ok](../../docs/http.md)',
      'docs/http.md': '',
    }
    expect(danglingReferences(files, file => texts[file] ?? '')).toEqual([
      'sync-server/src/inbox.ts:1: docs/nothing.md',
      'sync-server/src/inbox.ts:1: heads.ts',
      'sync-server/src/inbox.ts:1: DESIGN.md',
      'clients/web/README.md:1: ../docs/web-client.png',
    ])
  })

  it('every file the repository names exists', () => {
    expect(danglingReferences(repositoryFiles(), file => readFileSync(join(ROOT, file), 'utf8'))).toEqual([])
  })
})
