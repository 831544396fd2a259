import { fork, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { reapOnExit } from '@parley/sync-server/testing'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Spawns a server process and resolves once it prints `listening on`. */
export function spawnServer(command: string, args: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = reapOnExit(spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let log = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk
      if (log.includes('listening on')) resolve(child)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', code => reject(new Error(`${args.join(' ')} exited with ${code}:\n${log}`)))
  })
}

/** Forks a TypeScript worker (through tsx) with an IPC channel. */
export function forkWorker(file: string, args: string[]): ChildProcess {
  // BENCH_PROFILE_DIR=… also profiles the load generators; BENCH_WORKER_FLAGS="--perf-basic-prof" (or any Node flags) goes to their node.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []
  const flags = process.env.BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? []
  return reapOnExit(fork(file, args, { execArgv: ['--import', 'tsx', ...profile, ...flags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
}

export function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message as T)
    }
    const onExit = (code: number | null) => reject(new Error(`worker exited with ${code} while waiting for ${type}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid)
  return user + system
}

/** CPU seconds a process has used in user space and in the kernel, from /proc. */
export function cpuSplit(pid: number): { user: number; system: number } {
  return cpuOf(`/proc/${pid}/stat`)
}

/** User and kernel CPU seconds from a /proc stat file (a process's or a thread's). */
function cpuOf(statFile: string): { user: number; system: number } {
  const fields = readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ')
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }
}

/** CPU seconds and voluntary context switches of a process's threads (cpuByThread). */
export interface ThreadCpu {
  main: number
  others: number
  mainSwitches: number
  otherSwitches: number
}

/**
 * CPU seconds of a process's main thread and of its other threads (V8's compiler and GC
 * helpers, libuv's pool: LevelDB), from /proc: a process's CPU is not all its event loop's.
 * With each, its voluntary context switches: how often its threads went to sleep to be
 * woken again (the event loop waiting for a socket, a pool thread for work), a cost of its
 * own on a virtual machine, paid by whoever wakes them.
 */
export function cpuByThread(pid: number): ThreadCpu {
  const sum: ThreadCpu = { main: 0, others: 0, mainSwitches: 0, otherSwitches: 0 }
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let seconds: number
    let switches: number
    try {
      const { user, system } = cpuOf(`/proc/${pid}/task/${tid}/stat`)
      seconds = user + system
      switches = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0)
    } catch {
      continue // the thread ended meanwhile
    }
    if (Number(tid) === pid) {
      sum.main += seconds
      sum.mainSwitches += switches
    } else {
      sum.others += seconds
      sum.otherSwitches += switches
    }
  }
  return sum
}

/** Current resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Math.round(Number(match[1]) / 1024) : Number.NaN
}

/** Peak resident memory of a process in MiB, from /proc. */
export function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Math.round(Number(match[1]) / 1024) : Number.NaN
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  // A profiled process may need long to write its profile after a busy run.
  const timer = setTimeout(() => child.kill('SIGKILL'), process.env.BENCH_PROFILE_DIR ? 120_000 : 5_000)
  await exited
  clearTimeout(timer)
}

/** Rejects with "timed out waiting for `what`" after `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
