/**
 * npm run bench [-- --quick]
 *
 * Every benchmark, one after another, each in its own process with the same flags,
 * then the charts. Stops at the first one that fails.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BENCHMARKS = ['latency', 'segments', 'http', 'storage', 'connections', 'fanout', 'hot-conversation', 'cold-open', 'throughput', 'catch-up', 'resident', 'cluster']
const flags = process.argv.slice(2)
const started = Date.now()

for (const name of [...BENCHMARKS, 'charts']) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
  process.stderr.write(`\n== bench:${name} ${flags.join(' ')}\n`)
  const { status } = spawnSync(process.execPath, ['--import', 'tsx', file, ...(name === 'charts' ? [] : flags)], { stdio: 'inherit' })
  if (status !== 0) {
    process.stderr.write(`bench:${name} failed with exit code ${status}\n`)
    process.exit(status ?? 1)
  }
}
process.stderr.write(`\nall benchmarks done in ${((Date.now() - started) / 60_000).toFixed(1)} min\n`)
