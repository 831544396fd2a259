/**
 * npm run bench:ab -- <rev> [--runs 4] [--keep]
 *
 * Parley's server CPU per message and p50 (`bench:latency -- --only parley`) for this
 * checkout and for git revision `rev`, runs alternating (each side first in every other
 * pair), then each side's median and range and the ratio of the medians. On a shared
 * machine one run against another says little: the same code reads 1.1 and 1.5 ms per
 * message an hour apart, and interleaving spreads the machine's moods over both sides.
 * Nothing is written to RESULTS.md: this is for deciding whether a change pays.
 *
 * `rev` is checked out as a git worktree in a temporary directory with its own `npm ci`
 * (the workspaces link to their own sources, so a shared node_modules would run this
 * checkout's code); removed at the end unless `--keep`. The environment passes through
 * (BENCH_PARLEY_ARGS to run both on PostgreSQL, for one).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { median } from './lib/stats.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '4' }, keep: { type: 'boolean', default: false } } })
const [rev] = positionals
const RUNS = Number(values.runs)
if (!rev || positionals.length > 1 || !Number.isInteger(RUNS) || RUNS < 1) throw new Error('usage: npm run bench:ab -- <git revision> [--runs N] [--keep]')

interface Run {
  cpuMs: number
  p50: number
}

function run(command: string, commandArgs: string[], cwd: string): string {
  const result = spawnSync(command, commandArgs, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} in ${cwd} failed (${result.status}):\n${result.stderr}${result.stdout}`)
  return `${result.stdout}${result.stderr}`
}

/** One `--only parley` latency run in the checkout at `root`. */
function measure(root: string): Run {
  const output = run(process.execPath, ['--import', 'tsx', 'src/latency.ts', '--only', 'parley'], join(root, 'benchmarks'))
  const cpu = /serverCpuMsPerMessage: ([\d.]+)/.exec(output)
  const p50 = /p50: ([\d.]+)/.exec(output)
  if (!cpu || !p50) throw new Error(`no figures in the latency run's output:\n${output}`)
  return { cpuMs: Number(cpu[1]), p50: Number(p50[1]) }
}

const dir = mkdtempSync(join(tmpdir(), 'parley-ab-'))
const say = (text: string) => process.stderr.write(`ab: ${text}\n`)
try {
  say(`checking out ${rev} in ${dir} and installing it…`)
  run('git', ['worktree', 'add', '--detach', dir, rev], ROOT)
  run('npm', ['ci', '--no-audit', '--no-fund'], dir)
  const sides = { base: [] as Run[], head: [] as Run[] }
  for (let i = 1; i <= RUNS; i++) {
    // Which side goes first alternates. With the base always first, four pairs once read this
    // checkout 1.32× dearer where other interleaved runs of the same two commits read them
    // alike (RESULTS.md, 2026-12-07): the order may weigh on this machine.
    const pair = [['base', dir], ['head', ROOT]] as const
    for (const [side, root] of i % 2 === 1 ? pair : [...pair].reverse()) {
      const result = measure(root)
      sides[side].push(result)
      say(`run ${i} of ${RUNS}, ${side === 'base' ? rev : 'this checkout'}: ${result.cpuMs} ms CPU per message, p50 ${result.p50} ms`)
    }
  }
  const line = (name: string, runs: Run[]) => {
    const cpu = runs.map(one => one.cpuMs)
    const p50 = runs.map(one => one.p50)
    return `${name}: server CPU per message median ${median(cpu)} ms (${Math.min(...cpu)}–${Math.max(...cpu)}), p50 median ${median(p50)} ms (${Math.min(...p50)}–${Math.max(...p50)})`
  }
  console.log(line(rev, sides.base))
  console.log(line('this checkout', sides.head))
  const ratio = (key: keyof Run) => (median(sides.head.map(one => one[key])) / median(sides.base.map(one => one[key]))).toFixed(2)
  console.log(`this checkout / ${rev}: CPU ${ratio('cpuMs')}×, p50 ${ratio('p50')}×`)
} finally {
  if (values.keep) say(`kept ${dir} (git worktree remove --force ${dir})`)
  else {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: ROOT })
    rmSync(dir, { recursive: true, force: true })
  }
}
