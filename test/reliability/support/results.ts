/**
 * Measured figures (timings, memory, rates) are recorded, not asserted: each test writes
 * what it measured to test/artifacts/reliability/<name>.json (git-ignored) and prints
 * it, and docs/reliability.md quotes the figures of a recorded run.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const RESULTS_DIR = fileURLToPath(new URL('../../artifacts/reliability/', import.meta.url))

export async function recordResult(name: string, figures: Record<string, unknown>): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true })
  const record = { name, at: new Date().toISOString(), ...figures }
  await writeFile(`${RESULTS_DIR}${name}.json`, `${JSON.stringify(record, null, 2)}\n`)
  process.stdout.write(`[reliability] ${name}: ${JSON.stringify(figures)}\n`)
}

export async function writeArtifact(file: string, text: string): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true })
  await writeFile(`${RESULTS_DIR}${file}`, text)
  return `${RESULTS_DIR}${file}`
}

/** Percentile of already-collected samples (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits
