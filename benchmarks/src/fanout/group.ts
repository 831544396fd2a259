/**
 * A group conversation on a fresh server, with its members spread over worker
 * processes and each worker's clock offset measured: what the fan-out and the
 * hot-conversation benchmarks both start from.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SYSTEMS } from '../latency/systems.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from '../lib/processes.ts'
import { SECRET, type Group } from './system.ts'
import { FANOUT_SYSTEMS, type FanoutKey } from './systems.ts'
import { clockOffset } from './timing.ts'

const SETUP_TIMEOUT_MS = 300_000

export interface GroupRun {
  name: string
  server: ChildProcess
  group: Group
  workers: ChildProcess[]
  /** Each worker's clock minus this process's, in ms. */
  offsets: number[]
  close(): Promise<void>
}

/** Resolves when a member worker reports `ready`, rejects when it reports `failed` (or exits). */
export function ready(worker: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    nextMessage(worker, 'ready').then(() => resolve(), reject)
    nextMessage<{ message: string }>(worker, 'failed').then(({ message }) => reject(new Error(`a member could not join:\n${message}`)), reject)
  })
}

/** Starts `key`'s server, creates a group of `members`, and forks `workers` member processes running `workerFile`. */
export async function startGroup(key: FanoutKey, members: number, workers: number, workerFile: string): Promise<GroupRun> {
  const system = FANOUT_SYSTEMS[key]
  const base = SYSTEMS[system.server]
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-group-${key}-`))
  const { command, args } = base.serverCommand(port, dataDir, SECRET)
  let server: ChildProcess | undefined
  let group: Awaited<ReturnType<typeof system.createGroup>> | undefined
  const forked: ChildProcess[] = []
  const close = async (): Promise<void> => {
    for (const worker of forked) if (worker.connected) worker.send({ type: 'close' })
    await Promise.all(forked.map(stop))
    await group?.close()
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    server = await spawnServer(command, [...args, ...(system.serverArgs?.(members) ?? [])])
    const url = `ws://127.0.0.1:${port}${base.path ?? ''}`
    const users = Array.from({ length: members }, (_, i) => `member-${i}`)
    group = await withTimeout(system.createGroup({ url, httpUrl: `http://127.0.0.1:${port}`, users }), 'the group', SETUP_TIMEOUT_MS)
    const share = Math.ceil(members / workers)
    for (let first = 0; first < members; first += share) {
      forked.push(forkWorker(workerFile, [key, url, group.id, String(first), String(Math.min(share, members - first))]))
    }
    await withTimeout(Promise.all(forked.map(ready)), `${members} members to join`, SETUP_TIMEOUT_MS)
    const offsets: number[] = []
    for (const worker of forked) offsets.push(await clockOffset(worker))
    return { name: base.name, server, group, workers: forked, offsets, close }
  } catch (error) {
    await close()
    throw error
  }
}
