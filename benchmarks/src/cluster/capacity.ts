/**
 * Capacity for the cluster benchmark: many one-to-one conversations, each with its sender
 * and its receiver on the node that holds it (conversation i on node i mod N, so each of
 * three nodes carries a third of them, or one node carries all). Every round sends one
 * message into every conversation at once and waits until every receiver has it; the
 * nodes' CPU (schedstat, every thread: fanout/timing.ts) is read over the measured
 * rounds. Per message means per message sent in the whole cluster: the busiest node's
 * share is the figure that shows capacity growing with nodes.
 *
 * Sender and receiver are the fanout benchmark's lightweight Automerge peers
 * (fanout/automerge-peer.ts, in this process), so the load generator costs little next
 * to the servers; the conversation is made over REST on its node (fanout/parley.ts).
 */
import { parleyFanout } from '../fanout/parley.ts'
import type { Group } from '../fanout/system.ts'
import { cpuMs, sleep, untilIdle } from '../fanout/timing.ts'
import { withTimeout } from '../lib/processes.ts'
import { round } from '../lib/stats.ts'
import { busPerMessage, busTotals, type BusTotals, type Node } from './nodes.ts'

const ROUND_TIMEOUT_MS = 60_000
const IDLE_MS = 2_000
const SETUP_TIMEOUT_MS = 120_000

export interface CapacityResult {
  messages: number
  /** CPU ms per message of the whole cluster, per node (in node order). */
  nodeCpuMsPerMessage: number[]
  busiestCpuMsPerMessage: number
  totalCpuMsPerMessage: number
  /** CPU ms per second each node spends with nothing to do (heartbeats, polls), read before the run. */
  idleCpuMsPerSecond: number[]
  /** Wall time of the measured rounds. */
  measuredSeconds: number
  bus: BusTotals | undefined
}

interface Pair {
  group: Group
  received: number
  closeReceiver: () => void
}

export async function measureCapacity(nodes: Node[], plan: { conversations: number; warmup: number; measured: number }, clustered: boolean): Promise<CapacityResult> {
  const pairs: Pair[] = []
  /** The round's target and its resolver: every arrival checks it, no polling. */
  let waiting: { count: number; done: () => void } | undefined
  const arrived = () => {
    if (waiting && pairs.every(pair => pair.received >= waiting!.count)) {
      waiting.done()
      waiting = undefined
    }
  }
  const untilReceived = (count: number) => new Promise<void>(resolve => {
    waiting = { count, done: resolve }
    arrived()
  })
  try {
    for (let i = 0; i < plan.conversations; i++) {
      const node = nodes[i % nodes.length]!
      const receiver = `receiver-${i}`
      const group = await withTimeout(parleyFanout.createGroup({ url: node.url, httpUrl: node.httpUrl, users: [receiver] }), `conversation ${i}`, SETUP_TIMEOUT_MS)
      const pair: Pair = { group, received: 0, closeReceiver: () => undefined }
      pairs.push(pair)
      pair.closeReceiver = await withTimeout(
        parleyFanout.join(node.url, receiver, group.id, () => {
          pair.received++
          arrived()
        }),
        `receiver ${i}`,
        SETUP_TIMEOUT_MS,
      )
    }
    const pids = nodes.map(node => node.process.pid!)
    await untilIdle(pids)
    const idleStart = pids.map(cpuMs)
    await sleep(IDLE_MS)
    const idleCpuMsPerSecond = pids.map((pid, i) => round(((cpuMs(pid) - idleStart[i]!) / IDLE_MS) * 1000, 2))
    let cpuStart: number[] = []
    let wallStart = 0
    let before: BusTotals | undefined
    for (let index = 0; index < plan.warmup + plan.measured; index++) {
      if (index === plan.warmup) {
        await untilIdle(pids)
        cpuStart = pids.map(cpuMs)
        wallStart = performance.now()
        if (clustered) before = await busTotals(nodes)
      }
      const target = index + 1
      for (const pair of pairs) pair.group.send(`round ${index}|${'x'.repeat(90)}`)
      await withTimeout(untilReceived(target), `round ${index} to reach every receiver`, ROUND_TIMEOUT_MS)
    }
    const measuredSeconds = round((performance.now() - wallStart) / 1000, 2)
    await untilIdle(pids)
    const messages = plan.measured * plan.conversations
    const perNode = pids.map((pid, i) => (cpuMs(pid) - cpuStart[i]!) / messages)
    return {
      messages,
      nodeCpuMsPerMessage: perNode.map(value => round(value, 3)),
      busiestCpuMsPerMessage: round(Math.max(...perNode), 3),
      totalCpuMsPerMessage: round(perNode.reduce((sum, value) => sum + value, 0), 3),
      idleCpuMsPerSecond,
      measuredSeconds,
      bus: before ? busPerMessage(before, await busTotals(nodes), messages) : undefined,
    }
  } finally {
    for (const pair of pairs) {
      pair.closeReceiver()
      await pair.group.close()
    }
  }
}
