/**
 * The systems the latency benchmark compares, each as: how to start its server, and
 * how a sender and a receiver talk to it. Every one carries the same ~100-byte text.
 */
import { WebSocketClientAdapter, WebSocketServerAdapter } from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { createClient, type Conversation } from '@parley/client'
import { Repo, type DocHandle, type DocumentId } from 'automerge-repo-stock'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'

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
  /** The command that starts the server; it prints `listening on` when ready. */
  serverCommand(port: number, dataDir: string, secret: string): { command: string; args: string[] }
  client(url: string, token: string): Promise<ClientSide>
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))
const workerServer = (name: string) => (port: number, dataDir: string) => ({ command: process.execPath, args: ['--import', 'tsx', WORKER, name, 'server', String(port), dataDir] })

export const rawRelay: System = {
  name: 'raw ws relay',
  serverCommand: workerServer('raw'),
  async client(url) {
    const socket = new WebSocket(url)
    await new Promise(resolve => socket.once('open', resolve))
    return {
      create: async () => 'relay',
      open: async (_id, onText) => void socket.on('message', data => onText(data.toString())),
      send: async text => socket.send(text),
      close: async () => socket.close(),
    }
  },
}

/** A minimal relay: every frame goes to every other client; nothing is stored. */
export function runRawRelay(port: number): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' })
  wss.on('connection', socket =>
    socket.on('message', (data, isBinary) => {
      for (const other of wss.clients) if (other !== socket) other.send(data, { binary: isBinary })
    }),
  )
  wss.on('listening', () => console.log(`listening on ${port}`))
}

interface StockDoc {
  messages: string[]
}

export const stockAutomergeRepo: System = {
  name: 'stock automerge-repo 2.5.6',
  serverCommand: workerServer('stock'),
  async client(url) {
    const adapter = new WebSocketClientAdapter(url)
    const repo = new Repo({ network: [adapter] })
    await adapter.whenReady()
    let handle: DocHandle<StockDoc> | undefined
    return {
      async create() {
        handle = repo.create<StockDoc>({ messages: [] })
        await repo.flush()
        return handle.documentId
      },
      async open(id, onText) {
        const found = await repo.find<StockDoc>(id as DocumentId)
        let seen = found.doc().messages.length
        found.on('change', ({ doc }) => {
          while (seen < doc.messages.length) onText(String(doc.messages[seen++]))
        })
      },
      send: async text => handle!.change(doc => void doc.messages.push(text)),
      close: async () => adapter.disconnect(),
    }
  },
}

/** automerge-repo's sync server as upstream ships it: Repo + WebSocketServerAdapter + NodeFS. */
export function runStockServer(port: number, dataDir: string): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' })
  new Repo({ network: [new WebSocketServerAdapter(wss as never)], storage: new NodeFSStorageAdapter(dataDir), sharePolicy: async () => false })
  wss.on('listening', () => console.log(`listening on ${port}`))
}

const PARLEY_BIN = fileURLToPath(new URL('../../../sync-server/bin/parley-server.js', import.meta.url))

export const parley: System = {
  name: 'Parley',
  serverCommand: (port, dataDir, secret) => ({
    command: process.execPath,
    // BENCH_PROFILE_DIR=… writes a V8 CPU profile of the server (open it in Chrome DevTools).
    args: [...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []), PARLEY_BIN, '--port', String(port), '--data', dataDir, '--jwt-secret', secret, '--log-level', 'warn'],
  }),
  async client(url, token) {
    const client = await createClient({ server: url, token })
    let conversation: Conversation | undefined
    return {
      async create() {
        conversation = await client.createConversation({ members: ['receiver'] })
        await client.sync()
        return conversation.id
      },
      async open(id, onText) {
        const opened = await client.conversation(id)
        const seen = new Set(opened.timeline().map(item => item.id))
        opened.subscribe(timeline => {
          for (const item of timeline) {
            if (seen.has(item.id)) continue
            seen.add(item.id)
            onText(item.text)
          }
        })
      },
      send: async text => void (await conversation!.send(text)),
      close: () => client.close(),
    }
  },
}

export const SYSTEMS: Record<string, System> = { raw: rawRelay, stock: stockAutomergeRepo, parley }
