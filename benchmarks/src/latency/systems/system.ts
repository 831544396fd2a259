/** What every system in the latency benchmark provides. */
import { fileURLToPath } from 'node:url'

export interface ClientSide {
  /** Sender: make the conversation; resolves with its ID. */
  create(): Promise<string>
  /** Receiver: open it; `onText` gets each message text as it arrives. */
  open(id: string, onText: (text: string) => void): Promise<void>
  send(text: string): Promise<void>
  close(): Promise<void>
}

export interface System {
  name: string
  /** The server's WebSocket path; `/` unless given. */
  path?: string
  /** The command that starts the server; it prints `listening on` when ready. */
  serverCommand(port: number, dataDir: string, secret: string): { command: string; args: string[] }
  client(url: string, token: string): Promise<ClientSide>
  /** WebSocket frames the server has received and sent so far, where it counts them. */
  frames?(port: number): Promise<Frames>
}

export interface Frames {
  in: number
  out: number
}

const WORKER = fileURLToPath(new URL('../worker.ts', import.meta.url))

/**
 * Node flags for every server process: BENCH_PROFILE_DIR=… writes a V8 CPU profile of it
 * (open it in Chrome DevTools); BENCH_SERVER_FLAGS="--perf-basic-prof" (or any Node flags)
 * goes to its node.
 */
export const serverFlags = (): string[] => [
  ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
  ...(process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []),
]

/** A baseline's server runs in its own process: the benchmark worker in `server` mode. */
export const workerServer = (key: string) => (port: number, dataDir: string) => ({
  command: process.execPath,
  args: [...serverFlags(), '--import', 'tsx', WORKER, key, 'server', String(port), dataDir],
})
