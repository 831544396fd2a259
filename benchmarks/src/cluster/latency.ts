/**
 * One-to-one latency for the cluster benchmark: the latency benchmark's Parley sender and
 * receiver processes (latency/worker.ts, `@parley/client`), each connected to the node
 * it is given, one message at a time; bus traffic per message from the nodes' /metrics.
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SignJWT } from 'jose'
import { forkWorker, nextMessage, stop, withTimeout } from '../lib/processes.ts'
import { summarize, type Summary } from '../lib/stats.ts'
import { SECRET } from '../fanout/system.ts'
import { busPerMessage, busTotals, type BusTotals, type Node } from './nodes.ts'

const WORKER = fileURLToPath(new URL('../latency/worker.ts', import.meta.url))
const TIMEOUT_MS = 15_000

const token = (user: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

export interface LatencyResult {
  latency: Summary
  /** Undefined without a bus. */
  bus: BusTotals | undefined
}

export async function measureLatency(sender: Node, receiver: Node, all: Node[], plan: { warmup: number; measured: number }, clustered: boolean): Promise<LatencyResult> {
  const workers: ChildProcess[] = []
  try {
    const from = forkWorker(WORKER, ['parley', 'sender', sender.url, await token('sender')])
    const to = forkWorker(WORKER, ['parley', 'receiver', receiver.url, await token('receiver')])
    workers.push(from, to)
    await withTimeout(Promise.all([nextMessage(from, 'connected'), nextMessage(to, 'connected')]), 'clients to connect', TIMEOUT_MS)
    from.send({ type: 'create' })
    const { id } = await withTimeout(nextMessage<{ id: string }>(from, 'created'), 'the conversation', TIMEOUT_MS)
    to.send({ type: 'open', id })
    await withTimeout(nextMessage(to, 'ready'), 'the receiver to open it', TIMEOUT_MS)

    const latencies: number[] = []
    let before: BusTotals | undefined
    for (let index = 0; index < plan.warmup + plan.measured; index++) {
      if (index === plan.warmup && clustered) before = await busTotals(all)
      const got = nextMessage<{ latencyMs: number; index: number }>(to, 'got')
      from.send({ type: 'send', index })
      const { latencyMs, index: arrived } = await withTimeout(got, `message ${index}`, TIMEOUT_MS)
      // One at a time: the next to arrive is the one just sent, or one was lost or repeated.
      if (arrived !== index) throw new Error(`message ${arrived} arrived while waiting for message ${index}`)
      if (index >= plan.warmup) latencies.push(latencyMs)
    }
    // Acknowledgements of the last message still crossing the bus belong to it.
    await new Promise(resolve => setTimeout(resolve, 100))
    const bus = before ? busPerMessage(before, await busTotals(all), plan.measured) : undefined
    for (const worker of workers) worker.send({ type: 'close' })
    return { latency: summarize(latencies), bus }
  } finally {
    await Promise.all(workers.map(stop))
  }
}
