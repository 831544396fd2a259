/**
 * The bus's Redis link (cluster/redis-link.ts) against a real redis-server: frames
 * published in one turn of the event loop, from separate ticks (one per client message
 * read in a poll phase), reach Redis in one socket write, and every one of them arrives.
 */
import { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import { RedisProcess } from '../../src/testing.ts'

describe('RedisLink', () => {
  let redis: RedisProcess
  let link: RedisLink

  beforeAll(async () => {
    redis = await RedisProcess.start()
    link = new RedisLink(redis.url)
    const up = new Promise<void>(resolve => link.once('up', resolve))
    link.open()
    await up
    await link.subscribe(['test:channel'])
  })
  afterAll(async () => {
    vi.restoreAllMocks()
    await link?.close()
    await redis?.stop()
  })

  it('sends the frames of one turn, published in separate ticks, in one socket write', async () => {
    const heard: string[] = []
    const all = new Promise<void>(resolve =>
      link.on('frame', (_channel, bytes) => {
        heard.push(bytes.toString())
        if (heard.length === 3) resolve()
      }),
    )
    // The socket writes to Redis while the frames go out (only the publisher writes then):
    // one `_write` per chunk, or one `_writev` for what a cork held.
    const socket = Socket.prototype as unknown as { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void }
    const single = vi.spyOn(socket, '_write')
    const several = vi.spyOn(socket, '_writev')
    const toRedis = (mock: typeof single) => mock.mock.calls.filter((_, i) => (mock.mock.contexts[i] as Socket).remotePort === redis.port)
    const published: boolean[] = []
    await new Promise<void>(resolve =>
      setImmediate(() => {
        published.push(link.publish('test:channel', Buffer.from('one')))
        process.nextTick(() => {
          published.push(link.publish('test:channel', Buffer.from('two')))
          process.nextTick(() => {
            published.push(link.publish('test:channel', Buffer.from('three')))
            resolve()
          })
        })
      }),
    )
    expect(published).toEqual([true, true, true])
    await all
    const writes = { single: toRedis(single).length, several: toRedis(several).map(([chunks]) => (chunks as unknown[]).length) }
    single.mockRestore()
    several.mockRestore()
    expect(heard).toEqual(['one', 'two', 'three'])
    expect(writes).toEqual({ single: 0, several: [3] })
  })
})
