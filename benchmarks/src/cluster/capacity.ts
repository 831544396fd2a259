/**
 * Capacity for the cluster benchmark: many one-to-one conversations, each with its sender
 * and its receiver on the node that holds it (conversation i on node i mod N, so each of
 * three nodes carries a third of them, or one node carries all). Every round sends one
 * message into every conversation of the round at once and waits until every receiver has
 * it; the nodes' CPU (schedstat, every thread: fanout/timing.ts) is read over the measured
 * rounds. Per message means per message sent in the whole cluster: the busiest node's
 * share is the figure that shows capacity growing with nodes.
 *
 * Two things make three nodes on this machine look dearer than three machines would, and
 * the run takes both out (RESULTS.md "cluster" gives the figures with and without them):
 * - Warm-up is per process. V8 compiles a node's hot code after it has seen enough
 *   messages; a node that carries a third of the conversations sees a third of the
 *   warm-up messages, and pays its compiling in the measured rounds. So every node gets
 *   the same number of warm-up messages (`warmupPerNode`), whatever the node count.
 * - Three busy nodes share two cores with PostgreSQL, Redis and this process: each is
 *   preempted more and runs on cold caches, so its CPU time per message grows with the
 *   number of busy processes, not with anything it does. Beside the run with every node
 *   busy at once, each node is measured alone (its own conversations, the others idle),
 *   as a node with a core of its own runs; the targets read that figure. The nodes take
 *   turns of TURN_ROUNDS rounds, each turn measured as the lone node's rounds are (back to
 *   back, from idle to idle), so none sits idle for long: V8 drops the compiled code of a
 *   process idle for about 8 s (its memory reducer's GCs flush bytecode), and a node
 *   measured after waiting out the others' rounds paid for compiling it again.
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
/**
 * Rounds in a node's turn when the nodes are measured alone. Each turn is measured from
 * idle to idle, and what a measurement costs whatever it carries (waking from idle, the
 * round's trailing work, the wait for idle) is shared by a turn's messages, as by the lone
 * node's: turns of one round read each node of three at 62–67 % of the lone node's CPU per
 * message, turns of 5 rounds 35–45 %, one turn of all 15 31 % (2026-12-07, --quick).
 * Ten rounds keep a node's wait for the others' turns to a second or two.
 */
export const TURN_ROUNDS = 10

export interface CapacityPlan {
  conversations: number
  /** Warm-up messages each node handles before anything is measured (the same for any node count). */
  warmupPerNode: number
  /** Measured rounds (each one message into every conversation measured). */
  measured: number
}

/** CPU of the measured rounds, per message of the whole cluster. */
export interface CpuFigures {
  /** Per node (in node order). */
  nodeCpuMsPerMessage: number[]
  busiestCpuMsPerMessage: number
  totalCpuMsPerMessage: number
  /** Wall time of the measured rounds (summed over the nodes when measured one at a time). */
  measuredSeconds: number
}

export interface CapacityResult {
  messages: number
  warmupRounds: number
  /** Every node busy at once (on this machine: more busy processes than cores). */
  together: CpuFigures
  /** Each node busy alone, the others idle: what a node with a core of its own spends. Same as `together` for one node. */
  alone: CpuFigures
  /** CPU ms per second each node spends with nothing to do (heartbeats, polls), read before the run. */
  idleCpuMsPerSecond: number[]
  bus: BusTotals | undefined
}

interface Pair {
  group: Group
  node: number
  received: number
  closeReceiver: () => void
}

export async function measureCapacity(nodes: Node[], plan: CapacityPlan, clustered: boolean): Promise<CapacityResult> {
  const pairs: Pair[] = []
  /** The round's pairs and target, and its resolver: every arrival checks it, no polling. */
  let waiting: { pairs: Pair[]; count: number; done: () => void } | undefined
  const arrived = () => {
    if (waiting && waiting.pairs.every(pair => pair.received >= waiting!.count)) {
      waiting.done()
      waiting = undefined
    }
  }
  /** One message into each of these conversations, resolved once every receiver has it. */
  const sendRound = async (some: Pair[], label: string) => {
    const target = some[0]!.received + 1
    for (const pair of some) pair.group.send(`${label}|${'x'.repeat(90)}`)
    await withTimeout(
      new Promise<void>(resolve => {
        waiting = { pairs: some, count: target, done: resolve }
        arrived()
      }),
      `${label} to reach every receiver`,
      ROUND_TIMEOUT_MS,
    )
  }
  const pids = nodes.map(node => node.process.pid!)
  /** CPU of `rounds` rounds in `some` conversations, per node, after the nodes went idle. */
  const cpuOver = async (some: Pair[], rounds: number, label: string) => {
    await untilIdle(pids)
    const start = pids.map(cpuMs)
    const wallStart = performance.now()
    for (let index = 0; index < rounds; index++) await sendRound(some, `${label} ${index}`)
    const seconds = (performance.now() - wallStart) / 1000
    await untilIdle(pids)
    return { cpu: pids.map((pid, i) => cpuMs(pid) - start[i]!), seconds }
  }
  const figures = (perNodeCpuMs: number[], seconds: number, messages: number): CpuFigures => {
    const perNode = perNodeCpuMs.map(cpu => cpu / messages)
    return {
      nodeCpuMsPerMessage: perNode.map(value => round(value, 3)),
      busiestCpuMsPerMessage: round(Math.max(...perNode), 3),
      totalCpuMsPerMessage: round(perNode.reduce((sum, value) => sum + value, 0), 3),
      measuredSeconds: round(seconds, 2),
    }
  }
  try {
    for (let i = 0; i < plan.conversations; i++) {
      const node = i % nodes.length
      const receiver = `receiver-${i}`
      const { url, httpUrl } = nodes[node]!
      const group = await withTimeout(parleyFanout.createGroup({ url, httpUrl, users: [receiver] }), `conversation ${i}`, SETUP_TIMEOUT_MS)
      const pair: Pair = { group, node, received: 0, closeReceiver: () => undefined }
      pairs.push(pair)
      pair.closeReceiver = await withTimeout(
        parleyFanout.join(url, receiver, group.id, () => {
          pair.received++
          arrived()
        }),
        `receiver ${i}`,
        SETUP_TIMEOUT_MS,
      )
    }
    await untilIdle(pids)
    const idleStart = pids.map(cpuMs)
    await sleep(IDLE_MS)
    const idleCpuMsPerSecond = pids.map((pid, i) => round(((cpuMs(pid) - idleStart[i]!) / IDLE_MS) * 1000, 2))

    // Each round gives a node as many messages as it has conversations: the busiest node's count.
    const perNodePerRound = Math.max(...nodes.map((_, node) => pairs.filter(pair => pair.node === node).length))
    const warmupRounds = Math.ceil(plan.warmupPerNode / perNodePerRound)
    for (let index = 0; index < warmupRounds; index++) await sendRound(pairs, `warm-up ${index}`)

    const messages = plan.measured * plan.conversations
    const before = clustered ? await busTotals(nodes) : undefined
    const all = await cpuOver(pairs, plan.measured, 'round')
    const bus = before ? busPerMessage(before, await busTotals(nodes), messages) : undefined
    const together = figures(all.cpu, all.seconds, messages)

    let alone = together
    if (nodes.length > 1) {
      // Node i's CPU over its own conversations' rounds, the others idle; divided by the
      // messages of the whole cluster, as above (its share of them is its conversations').
      // The nodes take turns of TURN_ROUNDS rounds (why turns: the header). Measured all
      // at once per node instead, the node measured last cost up to 2.2× the first (with
      // --no-flush-bytecode, not).
      const own = nodes.map(() => 0)
      let seconds = 0
      const owned = nodes.map((_, node) => pairs.filter(pair => pair.node === node))
      for (let index = 0; index < plan.measured; index += TURN_ROUNDS) {
        const rounds = Math.min(TURN_ROUNDS, plan.measured - index)
        for (let node = 0; node < nodes.length; node++) {
          const run = await cpuOver(owned[node]!, rounds, `node ${node + 1} alone ${index}`)
          own[node] = own[node]! + run.cpu[node]!
          seconds += run.seconds
        }
      }
      alone = figures(own, seconds, messages)
    }
    return { messages, warmupRounds, together, alone, idleCpuMsPerSecond, bus }
  } finally {
    for (const pair of pairs) {
      pair.closeReceiver()
      await pair.group.close()
    }
  }
}
