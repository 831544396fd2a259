/**
 * Fan-out for the cluster benchmark: a group of N members created over REST on the first
 * node, the sender on the first node, the members (the fanout benchmark's lightweight
 * Automerge peers, fanout/worker.ts) in one worker process per node, connected to it.
 * With one node, the same three worker processes all connect to it.
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { forkWorker, nextMessage, stop, withTimeout } from '../lib/processes.ts'
import { median, round } from '../lib/stats.ts'
import { parleyFanout } from '../fanout/parley.ts'
import { textOf, type Group } from '../fanout/system.ts'
import { clockOffset, cpuMs, now, untilIdle } from '../fanout/timing.ts'
import { busPerMessage, busTotals, type BusTotals, type Node } from './nodes.ts'

const WORKER = fileURLToPath(new URL('../fanout/worker.ts', import.meta.url))
const SETUP_TIMEOUT_MS = 300_000
const MESSAGE_TIMEOUT_MS = 30_000
/** Member processes: one per node of a three-node cluster, and as many for one node. */
export const MEMBER_WORKERS = 3

export interface FanoutResult {
  lastMemberMs: number
  p50MemberMs: number
  /** CPU of every node together, per message. */
  serversCpuMsPerMessage: number
  /** Each node's, per message. */
  nodeCpuMsPerMessage: number[]
  bus: BusTotals | undefined
}


function ready(worker: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    nextMessage(worker, 'ready').then(() => resolve(), reject)
    nextMessage<{ message: string }>(worker, 'failed').then(({ message }) => reject(new Error(`a member could not join:\n${message}`)), reject)
  })
}

export async function measureFanout(nodes: Node[], members: number, plan: { warmup: number; measured: number }, clustered: boolean): Promise<FanoutResult> {
  const first = nodes[0]!
  const workers: ChildProcess[] = []
  let group: Group | undefined
  try {
    const users = Array.from({ length: members }, (_, i) => `member-${i}`)
    group = await withTimeout(parleyFanout.createGroup({ url: first.url, httpUrl: first.httpUrl, users }), 'the group', SETUP_TIMEOUT_MS)
    const share = Math.ceil(members / MEMBER_WORKERS)
    for (let w = 0, start = 0; start < members; w++, start += share) {
      const node = nodes[w % nodes.length]!
      workers.push(forkWorker(WORKER, ['parley', node.url, group.id, String(start), String(Math.min(share, members - start))]))
    }
    await withTimeout(Promise.all(workers.map(ready)), `${members} members to join`, SETUP_TIMEOUT_MS)
    const offsets: number[] = []
    for (const worker of workers) offsets.push(await clockOffset(worker))
    const servers = nodes.map(node => node.process.pid!)
    const pids = [...servers, ...workers.map(worker => worker.pid!)]
    await untilIdle(pids)

    const messages: { lastMs: number; p50Ms: number }[] = []
    let cpuStart: number[] = []
    let before: BusTotals | undefined
    for (let index = 0; index < plan.warmup + plan.measured; index++) {
      if (index === plan.warmup) {
        cpuStart = servers.map(cpuMs)
        if (clustered) before = await busTotals(nodes)
      }
      const got = workers.map(worker => nextMessage<{ index: number; arrivals: number[] }>(worker, 'got'))
      const sentAt = now()
      group.send(textOf(index))
      const reports = await withTimeout(Promise.all(got), `message ${index} to reach all ${members} members`, MESSAGE_TIMEOUT_MS)
      const latencies = reports.flatMap((report, w) => report.arrivals.map(at => at - offsets[w]! - sentAt))
      if (index >= plan.warmup) messages.push({ lastMs: round(Math.max(...latencies), 2), p50Ms: round(median(latencies), 2) })
      await untilIdle(pids)
    }
    const cpu = servers.map((pid, i) => cpuMs(pid) - cpuStart[i]!)
    return {
      lastMemberMs: round(median(messages.map(m => m.lastMs))),
      p50MemberMs: round(median(messages.map(m => m.p50Ms))),
      serversCpuMsPerMessage: round(cpu.reduce((a, b) => a + b, 0) / plan.measured),
      nodeCpuMsPerMessage: cpu.map(ms => round(ms / plan.measured)),
      bus: before ? busPerMessage(before, await busTotals(nodes), plan.measured) : undefined,
    }
  } finally {
    for (const worker of workers) if (worker.connected) worker.send({ type: 'close' })
    await Promise.all(workers.map(stop))
    await group?.close()
  }
}
