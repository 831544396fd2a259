/**
 * A TCP proxy between one node and Redis that can lose the node's incoming segment frames
 * on purpose, as Redis may: with `dropping` on, every pub/sub `message` on a
 * `…}:changes` channel (cluster/change-bus.ts) that Redis sends through the proxy is
 * swallowed, while the connection stays up and everything else (replies, the repo bus's
 * frames) passes. The replies are cut at reply boundaries with a small RESP2/RESP3 reader
 * (ioredis asks for RESP3 with HELLO 3: messages then come as pushes); bytes from the node
 * pass untouched.
 */
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
  throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('latin1', pos, pos + 20))}`)
}

function isChangeFrame(reply: Reply): boolean {
  if (!Array.isArray(reply) || reply.length !== 3) return false
  const [kind, channel] = reply
  return Buffer.isBuffer(kind) && kind.toString() === 'message' && Buffer.isBuffer(channel) && channel.toString().endsWith('}:changes')
}

export class DroppingRedisProxy {
  readonly port: number
  /** While true, segment frames on their way to the node are lost. */
  dropping = false
  /** Segment frames lost so far. */
  dropped = 0
  readonly #server: Server
  readonly #sockets = new Set<Socket>()

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
    client.pipe(upstream)
    let pending: Buffer = Buffer.alloc(0)
    upstream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      let at = 0
      const out: Buffer[] = []
      try {
        for (;;) {
          const reply = readReply(pending, at)
          if (!reply) break
          if (this.dropping && isChangeFrame(reply.value)) this.dropped++
          else out.push(pending.subarray(at, reply.end))
          at = reply.end
        }
      } catch (error) {
        client.destroy(error as Error) // not RESP: the node sees its link drop, not garbage
        return
      }
      pending = pending.subarray(at)
      if (out.length > 0) client.write(Buffer.concat(out))
    })
  }
}
