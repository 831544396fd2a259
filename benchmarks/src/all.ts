/**
 * npm run bench [-- --quick] [--list]
 *
 * Every benchmark that has a section in RESULTS.md, one after another, each in its own
 * process with the same flags (plus its own, for the variants), then the charts: one run
 * rewrites every section. After each step it checks that the step wrote its section (a
 * results JSON newer than the step's start, lib/results.ts writeResults); it stops at the
 * first step that fails or writes nothing. Progress (step, elapsed time) goes to stderr.
 * `--list` prints the steps and runs nothing.
 *
 * Not run: relay-core (an in-process experiment with no section; `npm run relay-core -w
 * @parley/benchmarks`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface Step {
  script: string
  /** Its own flags, after the shared ones. */
  args?: string[]
  /** The RESULTS.md section it writes (undefined: none, the charts). */
  section?: string
}

const STEPS: Step[] = [
  { script: 'latency', section: 'latency' },
  { script: 'segments', section: 'segments' },
  { script: 'http', section: 'http' },
  { script: 'storage', section: 'storage' },
  { script: 'connections', section: 'connections' },
  { script: 'fanout', section: 'fanout' },
  { script: 'hot-conversation', section: 'hot-conversation' },
  { script: 'cold-open', section: 'cold-open' },
  { script: 'throughput', section: 'throughput' },
  { script: 'catch-up', section: 'catch-up' },
  { script: 'resident', section: 'resident' },
  { script: 'cluster', section: 'cluster' },
  { script: 'client-cost', section: 'client-cost' },
  // Segment sizes compared (issue 15, item 5), and a long-loaded client.
  { script: 'client-cost', args: ['--segment-size', '250'], section: 'client-cost-250' },
  { script: 'client-cost', args: ['--segment-size', '500'], section: 'client-cost-500' },
  { script: 'client-cost', args: ['--segment-size', '2000'], section: 'client-cost-2000' },
  { script: 'client-cost', args: ['--loaded', '10000'], section: 'client-cost-loaded-10000' },
  { script: 'moderation', section: 'moderation' },
  { script: 'search', section: 'search' },
  { script: 'charts' },
]

const RESULTS = fileURLToPath(new URL('../results/', import.meta.url))
const flags = process.argv.slice(2).filter(flag => flag !== '--list')
const argsOf = (step: Step) => (step.script === 'charts' ? [] : [...flags, ...(step.args ?? [])])

for (const step of STEPS) {
  const file = fileURLToPath(new URL(`./${step.script}.ts`, import.meta.url))
  if (!existsSync(file)) throw new Error(`bench: no benchmark ${file}`)
  if (process.argv.includes('--list')) process.stdout.write(`bench:${step.script} ${argsOf(step).join(' ')}${step.section ? ` → section "${step.section}"` : ''}\n`)
}
if (process.argv.includes('--list')) process.exit(0)
/** `--only` makes the benchmarks write nothing: then nothing is checked. */
const writes = !flags.includes('--only')
const started = Date.now()
const minutes = (ms: number) => `${(ms / 60_000).toFixed(1)} min`

/** Whether `section`'s results JSON was written after `since` (writeResults names it `${section}-${ISO date}.json`). */
function wroteSince(section: string, since: number): boolean {
  const pattern = new RegExp(`^${section}-\\d{4}-\\d{2}-\\d{2}T[\\d-]+Z\\.json$`)
  return readdirSync(RESULTS).some(file => pattern.test(file) && statSync(`${RESULTS}${file}`).mtimeMs >= since)
}

for (const [i, step] of STEPS.entries()) {
  const file = fileURLToPath(new URL(`./${step.script}.ts`, import.meta.url))
  const args = argsOf(step)
  const stepStarted = Date.now()
  process.stderr.write(`\n== [${i + 1}/${STEPS.length}] bench:${step.script} ${args.join(' ')} (${minutes(stepStarted - started)} so far)\n`)
  const { status } = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' })
  if (status !== 0) {
    process.stderr.write(`bench:${step.script} failed with exit code ${status}\n`)
    process.exit(status ?? 1)
  }
  if (writes && step.section && !wroteSince(step.section, stepStarted)) {
    process.stderr.write(`bench:${step.script} ${args.join(' ')} exited without writing its section "${step.section}"\n`)
    process.exit(1)
  }
  process.stderr.write(`== bench:${step.script} done in ${minutes(Date.now() - stepStarted)}\n`)
}
process.stderr.write(`\nall benchmarks done in ${minutes(Date.now() - started)}\n`)
