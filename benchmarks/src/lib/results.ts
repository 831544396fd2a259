/**
 * Writes a benchmark's numbers: JSON under benchmarks/results/, and its own section of
 * benchmarks/RESULTS.md (between `<!-- NAME:start -->` and `<!-- NAME:end -->`), so each
 * benchmark updates its rows without touching the others'.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { describeMachine, machine } from './machine.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Table {
  headers: string[]
  rows: (string | number)[][]
}

export function renderTable({ headers, rows }: Table): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n')
}

export async function writeResults(name: string, command: string, data: unknown, markdown: string): Promise<string> {
  const date = new Date().toISOString()
  const m = machine()
  await mkdir(`${ROOT}results`, { recursive: true })
  const jsonPath = `${ROOT}results/${name}-${date.replace(/[:.]/g, '-')}.json`
  await writeFile(jsonPath, `${JSON.stringify({ name, date, command, machine: m, data }, null, 2)}\n`)

  const section = `<!-- ${name}:start -->\n## ${name}\n\n${date.slice(0, 10)} · ${describeMachine(m)} · \`${command}\`\n\n${markdown.trim()}\n<!-- ${name}:end -->`
  const path = `${ROOT}RESULTS.md`
  let doc = await readFile(path, 'utf8').catch(() => '# Benchmark results\n\nEach section is rewritten by its benchmark; see README.md for what each measures.\n')
  const pattern = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`)
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`
  await writeFile(path, doc)
  return jsonPath
}
