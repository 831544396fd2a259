/**
 * A worker process holding many lightweight sync clients (one WebSocket each, speaking
 * automerge-repo's wire protocol): each joins, asks for its conversation and counts as
 * synced when the server answers with it. When the connection drops, each reconnects
 * with the client library's own full-jitter backoff (backoffDelay, default 250 ms–30 s).
 * Reports every join and every resync, timed against the parent's clock origin.
 *
 *   node --import tsx storm-worker.ts '<config JSON>'
 */
import { next as Automerge } from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import { backoffDelay } from '@parley/client'
import { SignJWT } from 'jose'
import { WebSocket } from 'ws'

interface Config {
  url: string
  secret: string
  /** [user, conversation ID] per client. */
  clients: [string, string][]
  /** performance.timeOrigin of the parent, so reported times share one clock. */
  origin: number
  rampMs: number
}

const config = JSON.parse(process.argv[2]!) as Config
const [, INITIAL_SYNC] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
const BACKOFF = { minMs: 250, maxMs: 30_000 }
const now = (): number => performance.timeOrigin + performance.now() - config.origin
const secret = new TextEncoder().encode(config.secret)

const joins: number[] = []
const syncs: number[] = []
let synced = 0
let connected = 0
let failures = 0

function report(): void {
  process.send!({ type: 'progress', synced, connected, failures })
}

function start(user: string, documentId: string, index: number): void {
  const peerId = `storm-${user}`
  let attempt = 0
  let token: string | undefined
  let isSynced = false
  const open = async (): Promise<void> => {
    token ??= await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(secret)
    const socket = new WebSocket(`${config.url}?token=${token}`)
    socket.binaryType = 'nodebuffer'
    let joined = false
    socket.on('open', () => socket.send(cbor.encode({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] })))
    socket.on('message', data => {
      const message = cbor.decode(data as Uint8Array) as { type: string; senderId?: string; documentId?: string }
      if (message.type === 'peer') {
        joined = true
        connected++
        attempt = 0
        joins.push(now())
        socket.send(cbor.encode({ type: 'request', senderId: peerId, targetId: message.senderId, documentId, data: INITIAL_SYNC }))
      } else if (message.type === 'sync' && message.documentId === documentId && !isSynced) {
        isSynced = true
        synced++
        syncs.push(now())
      }
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      if (joined) connected--
      else failures++
      if (isSynced) synced--
      isSynced = false
      setTimeout(() => void open(), backoffDelay(attempt++, BACKOFF))
    })
  }
  setTimeout(() => void open(), (index / config.clients.length) * config.rampMs)
}

config.clients.forEach(([user, documentId], index) => start(user, documentId, index))
const ticker = setInterval(report, 200)
process.on('message', (message: { type: string }) => {
  if (message.type === 'collect') {
    process.send!({ type: 'collected', joins, syncs, failures })
  } else if (message.type === 'reset') {
    joins.length = 0
    syncs.length = 0
    failures = 0
  } else if (message.type === 'exit') {
    clearInterval(ticker)
    process.exit(0)
  }
})
