/**
 * Issue 13, item 8: N messages of 16 KB published over HTTP into a conversation of M
 * members while the webhook receiver is down (nothing listens on its port), so every
 * notification stays queued. "Down" as a hung receiver is: it accepts connections and never
 * answers, so each attempt waits out the delivery timeout (10 s). Prints the queue depth and the heap and RSS (after a full
 * GC) before the first message and after the last one is queued.
 *
 *   node --expose-gc --import tsx --conditions=@parley/source \
 *     sync-server/test/measure/webhook-queue-memory.ts [messages=1500] [members=1000]
 *
 * Not part of `npm test`: a measurement, run by hand.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { mintToken } from '../../src/auth/tokens.ts'
import { createParleyServer } from '../../src/server.ts'

const messages = Number(process.argv[2] ?? 1500)
const members = Number(process.argv[3] ?? 1000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)
function memory(): string {
  gc!()
  gc!()
  const { heapUsed, rss } = process.memoryUsage()
  return `heap ${mib(heapUsed)} MiB, RSS ${mib(rss)} MiB`
}

const dataDir = await mkdtemp(join(tmpdir(), 'parley-webhook-mem-'))
const secret = 'measure-secret-long-enough'
const sockets = new Set<import('node:net').Socket>()
const receiver = createServer(socket => (sockets.add(socket), socket.on('error', () => undefined)))
await new Promise<void>(resolve => receiver.listen(0, '127.0.0.1', resolve))
const receiverPort = (receiver.address() as import('node:net').AddressInfo).port
const server = await createParleyServer({
  port: 0,
  dataDir,
  jwtSecret: secret,
  logLevel: 'silent',
  webhookUrl: `http://127.0.0.1:${receiverPort}/hook`,
  webhookSecret: 'webhook-secret-long-enough',
  // The whole run inside one user's budget: this measures the queue, not the rate limit.
  messagesPerSecond: 10_000,
  messageBurst: 100_000,
})
await server.listen()
const token = await mintToken(secret, 'alice')
const headers = { authorization: `Bearer ${token}` }
const metric = async (name: string): Promise<number> => {
  const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1])
}
const depth = (): Promise<number> => metric('parley_webhook_queue_depth')

const others = Array.from({ length: members - 1 }, (_, i) => `member-${i}`)
const created = await server.app.inject({ method: 'POST', url: '/v1/conversations', headers, payload: { members: others } })
const id = created.json().id as string
const text = 'x'.repeat(16_000)
// One message first so the conversation's documents and code paths are warm.
await server.app.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers, payload: { text } })
console.log(`before: queue depth ${await depth()}, ${memory()}`)
const started = Date.now()
for (let i = 1; i < messages; i++) {
  const response = await server.app.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers, payload: { text } })
  if (response.statusCode !== 201) throw new Error(`publish ${i}: HTTP ${response.statusCode} ${response.body}`)
}
// Notifications are queued as events are numbered: wait until the depth stops growing.
for (let last = -1, now = await depth(); now !== last; last = now, now = await depth()) await new Promise(resolve => setTimeout(resolve, 500))
console.log(`after ${messages} messages to ${members} members (${((Date.now() - started) / 1000).toFixed(1)} s): queue depth ${await depth()}, retries ${await metric('parley_webhook_retries_total')}, dead letters ${await metric('parley_webhook_dead_letters_total')}, ${memory()}`)
for (const socket of sockets) socket.destroy()
receiver.close()
await server.close()
await rm(dataDir, { recursive: true, force: true })
