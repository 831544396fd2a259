/**
 * npm run bench:charts
 *
 * Draws the README's charts (benchmarks/charts/*.svg) from the newest JSON each
 * benchmark wrote to benchmarks/results/, so a chart always shows one run's numbers.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { barChart, type Chart } from './lib/chart.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

type Rows = Record<string, any>[]

/** Each benchmark's chart, from its rows. */
const CHARTS: Record<string, (rows: Rows) => Chart> = {
  latency: rows => ({ title: 'One-to-one delivery latency, p50', unit: 'ms', log: true, bars: rows.map(row => ({ label: row.system, value: row.latency.p50 })) }),
  connections: rows => ({ title: 'Server memory per idle connection', unit: 'KB', bars: rows.map(row => ({ label: row.system, value: row.kbPerConnection })) }),
  storage: rows => ({ title: 'Bytes on disk per message (~100-byte text)', unit: 'B', bars: rows.map(row => ({ label: row.system, value: row.bytesPerMessage })) }),
  http: rows => ({ title: 'Long-poll wake-up after a publish, p50', unit: 'ms', bars: rows.map(row => ({ label: row.system, value: row.longPoll.p50 })) }),
  'cold-open': rows => ({ title: 'Open a long conversation, newest 50 messages, local', unit: 'ms', log: true, bars: rows.map(row => ({ label: row.system, value: row.localOpenMs })) }),
  fanout: rows => ({
    title: 'One message to every member: last member, at the largest group',
    unit: 'ms',
    log: true,
    bars: rows.filter(row => row.members === Math.max(...rows.map(other => other.members))).map(row => ({ label: row.system, value: row.lastMemberMs })),
  }),
  throughput: rows => ({
    title: 'Messages/s delivered at 10,000 offered (many conversations)',
    unit: 'msg/s',
    log: true,
    bars: rows.filter(row => row.offered === Math.max(...rows.map(other => other.offered)) && row.skipped === undefined).map(row => ({ label: row.system, value: row.deliveredPerSecond })),
  }),
  'catch-up': rows => ({ title: 'Back online after messages arrived in 100 conversations: fully synced', unit: 'ms', log: true, bars: rows.filter(row => row.round === 1).map(row => ({ label: row.finished === false ? `${row.system} (unfinished)` : row.system, value: row.totalMs })) }),
}

const files = await readdir(`${ROOT}results`)
await mkdir(`${ROOT}charts`, { recursive: true })
for (const [name, chart] of Object.entries(CHARTS)) {
  const newest = files.filter(file => file.startsWith(`${name}-`) && file.endsWith('.json')).sort().at(-1)
  if (!newest) continue
  const { data } = JSON.parse(await readFile(`${ROOT}results/${newest}`, 'utf8')) as { data: Rows }
  await writeFile(`${ROOT}charts/${name}.svg`, barChart(chart(data)))
  console.log(`charts/${name}.svg from ${newest}`)
}
