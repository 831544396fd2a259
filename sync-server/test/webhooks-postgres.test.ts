/**
 * The webhook queue in PostgreSQL (webhooks/postgres-dispatcher.ts): the LevelDB queue's
 * behaviour (signing, retries, priorities, dead letters, replay, a restart), then what a
 * shared queue adds: two nodes deliver each notification once, and a node killed while
 * delivering lets another take its claim when the lease lapses.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { PostgresPool } from '../src/storage/postgres/index.ts'
import { migrate } from '../src/storage/postgres/migrations.ts'
import { createTestDatabase, reapOnExit } from '../src/testing.ts'
import { verifyWebhook, type QueuedNotification, type WebhookNotification, type WebhookOptions, type WebhookQueue } from '../src/webhooks/dispatcher.ts'
import { openWebhooks } from '../src/webhooks/open.ts'
import { PostgresWebhookDispatcher } from '../src/webhooks/postgres-dispatcher.ts'
import { Receiver, type Behaviour } from './fixtures/webhook-receiver.ts'

const SECRET = 'webhook-test-secret'
const NODE_SCRIPT = fileURLToPath(new URL('./fixtures/webhook-node.ts', import.meta.url))

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function notification(overrides: Partial<WebhookNotification> = {}): WebhookNotification {
  return { conversationId: 'conv-1', seq: 7, event: { id: 'evt-1', type: 'message', author: 'alice', at: 1, text: 'hi' }, recipients: ['bob'], priority: 'normal', ...overrides }
}

function next(queue: WebhookQueue, event: 'delivered' | 'retry' | 'dead-letter'): Promise<QueuedNotification> {
  return new Promise(resolve => queue.once(event, resolve))
}

/** A migrated database and a receiver; `node()` opens a dispatcher on its own pool, as a server of the cluster would. */
async function setup(behaviour?: Behaviour) {
  const database = await createTestDatabase()
  cleanups.push(() => database.drop())
  const receiver = await new Receiver(behaviour).start()
  cleanups.push(() => receiver.close())
  const pools: PostgresPool[] = []
  const node = async (options: Partial<WebhookOptions> = {}): Promise<WebhookQueue> => {
    const pool = new PostgresPool(database.url, { max: 4 })
    cleanups.push(() => pool.close())
    pools.push(pool)
    await migrate(pool)
    const queue = await openWebhooks({ postgres: pool, url: receiver.url, secret: SECRET, backoff: { minMs: 5, maxMs: 50 }, pollMs: 50, log: { warn() {}, info() {} }, ...options })
    cleanups.push(() => queue.close())
    return queue
  }
  return { url: database.url, receiver, node, pools }
}

describe('webhook queue on PostgreSQL', () => {
  it('delivers a signed notification, retries a failure, and empties the queue', async () => {
    const { receiver, node, pools } = await setup(index => (index === 0 ? 500 : 200))
    const queue = await node()
    expect(queue).toBeInstanceOf(PostgresWebhookDispatcher)
    const retried = next(queue, 'retry')
    const delivered = next(queue, 'delivered')
    const id = await queue.enqueue(notification())
    expect((await retried).lastError).toBe('HTTP 500')
    expect((await delivered).attempts).toBe(2)
    const last = receiver.received[1]!
    expect(last.headers['x-parley-delivery']).toBe(id)
    expect(verifyWebhook(SECRET, last.headers, last.body)).toBe(true)
    expect(last.json).toMatchObject({ id, attempt: 2, conversationId: 'conv-1', recipients: ['bob'] })
    expect(await pools[0]!.query('SELECT id FROM parley_webhooks')).toEqual([])
  })

  it('delivers higher priorities first, FIFO within a priority', async () => {
    const { receiver, node } = await setup()
    // Queued by one node while no node delivers, then delivered by one at a time.
    const writer = await node({ concurrency: 1 })
    await writer.close()
    for (const [seq, priority] of [[1, 'low'], [2, 'normal'], [3, 'high'], [4, 'normal'], [5, 'high']] as const) await writer.enqueue(notification({ seq, priority }))
    await node({ concurrency: 1 })
    await receiver.waitFor(5)
    expect(receiver.received.map(r => r.json.seq)).toEqual([3, 5, 2, 4, 1])
  })

  it('dead-letters after maxAttempts, lists it, and replay delivers it', async () => {
    let failing = true
    const { receiver, node } = await setup(() => (failing ? 503 : 200))
    const queue = await node({ maxAttempts: 2 })
    const dead = next(queue, 'dead-letter')
    const id = await queue.enqueue(notification())
    expect((await dead).attempts).toBe(2)
    expect((await queue.deadLetters()).map(n => [n.id, n.lastError])).toEqual([[id, 'HTTP 503']])
    expect(queue.stats().deadLetters).toBe(1)
    failing = false
    const delivered = next(queue, 'delivered')
    expect(await Promise.all([queue.replay(id), queue.replay(id)])).toEqual(expect.arrayContaining([true, false]))
    expect((await delivered).attempts).toBe(1)
    expect(await queue.deadLetters()).toEqual([])
    expect(receiver.received.filter(r => r.headers['x-parley-delivery'] === id)).toHaveLength(3)
  })

  it('two nodes sharing the queue deliver each notification once', async () => {
    const { receiver, node } = await setup()
    const nodes = [await node(), await node()]
    const count = 60
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => nodes[i % 2]!.enqueue(notification({ seq: i }))))
    await receiver.waitFor(count)
    await Promise.all(nodes.map(queue => queue.close()))
    const deliveries = receiver.received.map(r => r.headers['x-parley-delivery'])
    expect(deliveries.sort()).toEqual([...ids].sort())
    // Both took part: neither waited for the other to finish.
    expect(nodes.map(queue => queue.stats().delivered).every(delivered => delivered > 0)).toBe(true)
  })

  it("hands a killed node's claim to another node when its lease lapses", async () => {
    const { url, receiver, node } = await setup(index => (index === 0 ? 'hang' : 200))
    const leaseMs = 3000
    const child = reapOnExit(spawn(process.execPath, ['--conditions=@parley/source', '--import', 'tsx', NODE_SCRIPT, url, receiver.url, String(leaseMs)], { stdio: ['ignore', 'pipe', 'pipe'] }))
    const exited = new Promise(resolve => child.once('exit', resolve))
    cleanups.push(async () => {
      child.kill('SIGKILL')
      await exited
    })
    let output = ''
    child.stdout!.on('data', chunk => (output += chunk))
    child.stderr!.on('data', chunk => (output += chunk))
    // The child node enqueues and starts delivering; the receiver holds that request.
    await Promise.race([receiver.waitFor(1), exited.then(() => Promise.reject(new Error(`the node exited before delivering:\n${output}`)))])
    const id = /enqueued (\S+)/.exec(output)?.[1]
    expect(id, output).toBeDefined()
    child.kill('SIGKILL')
    await exited

    const survivor = await node({ leaseMs, timeoutMs: leaseMs - 500 })
    const delivered = await next(survivor, 'delivered')
    expect(delivered.id).toBe(id)
    expect(receiver.received.map(r => r.headers['x-parley-delivery'])).toEqual([id, id])
    expect(survivor.stats()).toMatchObject({ delivered: 1, queued: 0, inFlight: 0 })
  })
})
