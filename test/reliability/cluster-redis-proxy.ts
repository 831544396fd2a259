/**
 * A TCP proxy between one node and Redis that can lose the node's incoming segment frames
 * on purpose, as Redis may. With `dropping` on, it swallows the pub/sub `message`s on
 * `…}:changes` channels (cluster/change-bus.ts) that the node must miss: frames another
 * node published for a segment this node publishes into too (so it holds the segment,
 * with peers, and listens: relay/hub.ts). Its own frames, which Redis sends back to it and
 * it skips, pass: losing them loses nothing. The connection stays up and everything else
 * (replies, the repo bus's frames) passes.
 *
 * It also counts the frames that reach the node with a change depending on a lost one:
 * each is a gap the node must notice (docs/cluster.md, "Gaps, without offsets").
 *
 * Replies are cut at reply boundaries with a small RESP2/RESP3 reader (ioredis asks for
 * RESP3 with HELLO 3: messages then come as pushes); the node's commands are read too, to
 * learn its ID and segments from what it publishes, and pass untouched. One node per proxy:
 * what any connection through it publishes counts as that node's.
 */
import { next as Automerge } from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import { createServer, connect, type Server, type Socket } from 'node:net'

type Reply = Buffer | string | null | Reply[]

/** One whole RESP reply at `pos`: its value and where it ends, or undefined when incomplete. */
function readReply(buf: Buffer, pos: number): { value: Reply; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', pos)
  if (lineEnd < 0) return undefined
  const line = buf.toString('latin1', pos + 1, lineEnd)
  const next = lineEnd + 2
  const type = String.fromCharCode(buf[pos]!)
  if ('+-:_#,('.includes(type)) return { value: line, end: next }
  if ('$!='.includes(type)) {
    const length = Number(line)
    if (length < 0) return { value: null, end: next }
    if (buf.length < next + length + 2) return undefined
    return { value: buf.subarray(next, next + length), end: next + length + 2 }
  }
  if ('*~>%|'.includes(type)) {
    const count = Number(line) * ('%|'.includes(type) ? 2 : 1)
    if (count < 0) return { value: null, end: next }
    const items: Reply[] = []
    let at = next
    for (let i = 0; i < count; i++) {
      const item = readReply(buf, at)
      if (!item) return undefined
      items.push(item.value)
      at = item.end
    }
    return { value: items, end: at }
  }
  throw new Error(`not RESP: ${JSON.stringify(buf.toString('latin1', pos, pos + 20))}`)
}

/** Calls `each` with every whole reply (or command) in the stream's chunks; throws on bytes that are not RESP. */
function respReader(each: (reply: Reply, bytes: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return chunk => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    for (;;) {
      const reply = readReply(pending, at)
      if (!reply) break
      each(reply.value, pending.subarray(at, reply.end))
      at = reply.end
    }
    pending = pending.subarray(at)
  }
}

/** A segment frame (cluster/change-bus.ts ChangeFrame): the publishing node, the segment, its changes. */
interface ChangeFrame {
  readonly from: string
  readonly s: string
  readonly c: Uint8Array[]
}

/** The frame in a `[kind, channel, payload]` reply or command whose kind is `kind`, on a `…}:changes` channel. */
function changeFrame(reply: Reply, kind: string): ChangeFrame | undefined {
  if (!Array.isArray(reply) || reply.length !== 3) return undefined
  const [what, channel, payload] = reply
  if (!Buffer.isBuffer(what) || what.toString().toLowerCase() !== kind) return undefined
  if (!Buffer.isBuffer(channel) || !channel.toString().endsWith('}:changes') || !Buffer.isBuffer(payload)) return undefined
  return cbor.decode(payload) as ChangeFrame
}

export class DroppingRedisProxy {
  readonly port: number
  /** While true, the segment frames the node must miss are lost. */
  dropping = false
  /** Segment frames of other nodes lost so far. */
  dropped = 0
  /** Frames that reached the node with a change depending on a lost one (through any chain). */
  revealed = 0
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  /** The node's ID on the segment bus, and the segments it published into. */
  readonly #own = new Set<string>()
  readonly #ownSegments = new Set<string>()
  /** Hashes of the changes lost, and of those that reached the node depending on them. */
  readonly #lost = new Set<string>()

  private constructor(server: Server, port: number) {
    this.#server = server
    this.port = port
  }

  static async start(redisPort: number): Promise<DroppingRedisProxy> {
    let proxy: DroppingRedisProxy | undefined
    const server = createServer(client => proxy!.#relay(client, redisPort))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    proxy = new DroppingRedisProxy(server, (server.address() as { port: number }).port)
    return proxy
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise(resolve => this.#server.close(resolve))
  }

  #relay(client: Socket, redisPort: number): void {
    const upstream = connect(redisPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket)
      socket.on('error', () => undefined) // the close below ends the other side
      socket.on('close', () => {
        this.#sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    // The node's publish goes through here before Redis sends it back: its ID is known by then.
    client.pipe(upstream)
    const commands = respReader(command => this.#published(changeFrame(command, 'publish')))
    client.on('data', (chunk: Buffer) => {
      try {
        commands(chunk)
      } catch (error) {
        client.destroy(error as Error) // unreadable: the node sees its link drop rather than frames misjudged
      }
    })
    let out: Buffer[] = []
    const replies = respReader((reply, bytes) => {
      if (this.#passes(changeFrame(reply, 'message'))) out.push(bytes)
    })
    upstream.on('data', (chunk: Buffer) => {
      try {
        replies(chunk)
      } catch (error) {
        client.destroy(error as Error) // not RESP: the node sees its link drop, not garbage
        return
      }
      if (out.length > 0) client.write(Buffer.concat(out))
      out = []
    })
  }

  #published(frame: ChangeFrame | undefined): void {
    if (!frame) return
    this.#own.add(frame.from)
    this.#ownSegments.add(frame.s)
  }

  /** Whether a reply goes on to the node; for a segment frame, what it loses or reveals. */
  #passes(frame: ChangeFrame | undefined): boolean {
    if (!frame || this.#own.has(frame.from)) return true
    const changes = frame.c.map(bytes => Automerge.decodeChange(bytes))
    if (this.dropping && this.#ownSegments.has(frame.s)) {
      for (const change of changes) this.#lost.add(change.hash!)
      this.dropped++
      return false
    }
    let reveals = false
    for (const change of changes) {
      if (!change.deps.some(dep => this.#lost.has(dep))) continue
      this.#lost.add(change.hash!)
      reveals = true
    }
    if (reveals) this.revealed++
    return true
  }
}
