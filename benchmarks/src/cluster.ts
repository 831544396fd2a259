/**
 * npm run bench:cluster [-- --quick]
 *
 * Parley across a cluster of three nodes on one Redis, beside one node alone, in the same
 * run on the same machine (every process shares its two cores):
 * - latency, one message at a time: one node alone; both clients on node 1 of the
 *   cluster; sender on node 1, receiver on node 2 (the change crosses the bus);
 * - fan-out of one message to N members: all on one node, or spread over the three
 *   nodes (sender on node 1);
 * - the bus's cost per message: frames and bytes published and received, summed over
 *   the nodes (/metrics), including the acknowledgements the sync protocol sends back.
 */
import { loadavg } from 'node:os'
import { renderTable, writeResults } from './lib/results.ts'
import { measureFanout, MEMBER_WORKERS, type FanoutResult } from './cluster/fanout.ts'
import { measureLatency, type LatencyResult } from './cluster/latency.ts'
import { startServers, type Servers } from './cluster/nodes.ts'
import { QUICK } from './lib/args.ts'

const NODES = 3
const LATENCY = { warmup: QUICK ? 20 : 50, measured: QUICK ? 200 : 1000 }
const FANOUT = { warmup: 3, measured: QUICK ? 3 : 5 }
const SIZES = QUICK ? [100] : [100, 300]

/** Members and the sender share one IP; they send a few frames each per message. */
const serverArgs = (members: number) => ['--max-connections-per-ip', String(members + 100), '--messages-per-second', '100000', '--message-burst', '100000']

async function withServers<T>(count: number, clustered: boolean, args: string[], run: (servers: Servers) => Promise<T>): Promise<T> {
  const servers = await startServers(count, clustered, args)
  try {
    return await run(servers)
  } finally {
    await servers.close()
  }
}

const started = performance.now()
const loadBefore = loadavg()[0]!
const log = (text: string) => process.stderr.write(text)

log(`cluster: latency, one node alone (${LATENCY.measured} messages)…\n`)
const single = await withServers(1, false, [], ({ nodes }) => measureLatency(nodes[0]!, nodes[0]!, nodes, LATENCY, false))
log(`cluster: latency on a ${NODES}-node cluster, same node and across nodes…\n`)
const [sameNode, crossNode] = await withServers(NODES, true, [], async ({ nodes }) => [
  await measureLatency(nodes[0]!, nodes[0]!, nodes, LATENCY, true),
  await measureLatency(nodes[0]!, nodes[1]!, nodes, LATENCY, true),
])

const fanouts: { members: number; single: FanoutResult; cluster: FanoutResult }[] = []
for (const members of SIZES) {
  log(`cluster: fan-out to ${members} members, one node…\n`)
  const alone = await withServers(1, false, serverArgs(members), ({ nodes }) => measureFanout(nodes, members, FANOUT, false))
  log(`cluster: fan-out to ${members} members over ${NODES} nodes…\n`)
  const spread = await withServers(NODES, true, serverArgs(members), ({ nodes }) => measureFanout(nodes, members, FANOUT, true))
  fanouts.push({ members, single: alone, cluster: spread })
}

const latencyRow = (setup: string, result: LatencyResult) => {
  const { latency, bus } = result
  return [setup, latency.count, latency.p50, latency.p90, latency.p99, latency.max, bus?.publishedMessages ?? '–', bus?.publishedBytes ?? '–', bus?.receivedBytes ?? '–']
}
const latencyTable = renderTable({
  headers: ['setup', 'messages', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'bus frames published/msg', 'bus bytes published/msg', 'bus bytes received/msg'],
  rows: [latencyRow('one node, no bus', single), latencyRow(`${NODES} nodes, sender and receiver on node 1`, sameNode!), latencyRow(`${NODES} nodes, sender on node 1, receiver on node 2`, crossNode!)],
})
const fanoutTable = renderTable({
  headers: ['members', 'setup', 'last member ms (median)', 'p50 member ms (median)', 'servers CPU ms/msg (all nodes)', 'bus frames published/msg', 'bus bytes published/msg', 'bus bytes received/msg'],
  rows: fanouts.flatMap(({ members, single: one, cluster }) => [
    [members, 'one node', one.lastMemberMs, one.p50MemberMs, one.serversCpuMsPerMessage, '–', '–', '–'],
    [members, `${NODES} nodes, a third of the members on each`, cluster.lastMemberMs, cluster.p50MemberMs, cluster.serversCpuMsPerMessage, cluster.bus!.publishedMessages, cluster.bus!.publishedBytes, cluster.bus!.receivedBytes],
  ]),
})
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`
const summary = [
  `- Across nodes, p50 ${crossNode!.latency.p50} ms vs ${single.latency.p50} ms on one node (${ratio(crossNode!.latency.p50, single.latency.p50)}), p99 ${crossNode!.latency.p99} ms vs ${single.latency.p99} ms.`,
  ...fanouts.map(
    ({ members, single: one, cluster }) =>
      `- Fan-out to ${members}: last member ${cluster.lastMemberMs} ms over ${NODES} nodes vs ${one.lastMemberMs} ms on one (${ratio(cluster.lastMemberMs, one.lastMemberMs)}); CPU of all nodes ${cluster.serversCpuMsPerMessage} vs ${one.serversCpuMsPerMessage} ms per message.`,
  ),
  `- Bus cost of one chat message across nodes: ${crossNode!.bus!.publishedMessages} frames and ${crossNode!.bus!.publishedBytes} bytes published, ${crossNode!.bus!.receivedBytes} bytes received (all nodes, acknowledgements included).`,
].join('\n')
const notes = [
  `- Every process on one 2-core machine: the ${NODES} nodes, redis-server, and the clients or member workers take turns on the same cores, so a cluster here measures the bus's cost, not the capacity a cluster adds (that comes from nodes on separate machines). One-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (other work on the machine shows here: above 2, every figure includes waiting for a core).`,
  `- Latency: the latency benchmark's Parley sender and receiver (\`@parley/client\`, one process each), ~100-byte texts, ${LATENCY.warmup} warm-up then ${LATENCY.measured} measured, one at a time; one-way times from CLOCK_MONOTONIC stamps. Bus columns: every node's published and received frames and bytes, summed, per measured message.`,
  `- Fan-out: the fanout benchmark's lightweight members in ${MEMBER_WORKERS} worker processes (on the cluster, worker i connects to node i); sender and group on node 1; ${FANOUT.warmup} warm-up then ${FANOUT.measured} measured messages, the next once every process is idle; medians.`,
  `- Every node is an automerge-repo peer of every other: a change reaches node 2 and node 3 from node 1 directly, and then node 2 and node 3 also sync with each other (each learns of the other's copy only from its sync messages), so frames per message grow with the square of the nodes; identical messages for several nodes go out once, on the document's channel.`,
  `- Bus columns leave heartbeats out (\`kind="hello"\` in /metrics: one ~100-byte frame per node per second, delivered to every node).`,
].join('\n')
const command = `npm run bench:cluster${QUICK ? ' -- --quick' : ''}`
const took = `took ${Math.round((performance.now() - started) / 1000)} s`
console.log(`\n${latencyTable}\n\n${fanoutTable}\n\n${summary}\n\n${notes}\n\n${took}`)
const json = await writeResults(
  'cluster',
  command,
  { latency: { single, sameNode, crossNode }, fanout: fanouts },
  `Cluster mode: ${NODES} nodes on one Redis, beside one node alone.\n\n${latencyTable}\n\n${fanoutTable}\n\n${summary}\n\n${notes}`,
)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
