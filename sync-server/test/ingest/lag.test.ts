/**
 * parley_ingest_lag_messages: the messages waiting behind the ones the consumer holds,
 * read from the broker (RabbitMQ's queue depth, the NATS consumer's pending count). The
 * target here holds every write until the test lets it go, so the count stands still.
 */
import pino from 'pino'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { openIngest } from '../../src/ingest/open.ts'
import type { IngestTarget } from '../../src/ingest/processor.ts'
import { NATS_URL, natsProducer, rabbitProducer, rabbitVhost, uniqueName } from './brokers.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

/** A target whose writes wait for `release()`; `started` counts the writes begun. */
function heldTarget() {
  let release!: () => void
  const released = new Promise<void>(resolve => (release = resolve))
  const state = { started: 0 }
  const target: IngestTarget = {
    conversationExists: async () => true,
    writable: () => true,
    async publish() {
      state.started++
      await released
      return { seq: state.started, event: { id: `e${state.started}` } }
    },
  }
  return { target, release, state }
}

async function sample(register: Registry, name: string): Promise<number | undefined> {
  return (await register.getSingleMetric(name)!.get()).values[0]?.value
}

async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise(resolve => setTimeout(resolve, 20))
}

describe('ingest lag', { timeout: 60_000 }, () => {
  for (const broker of ['amqp', 'nats'] as const) {
    it(`${broker}: counts what waits behind the messages held, and falls to 0 once they are taken`, async () => {
      const { target, release, state } = heldTarget()
      const register = new Registry()
      let url: string
      let name = 'parley-ingest'
      let send: (i: number) => Promise<void>
      if (broker === 'amqp') {
        const vhost = await rabbitVhost()
        cleanups.push(() => vhost.remove())
        const producer = await rabbitProducer(vhost.url, name)
        cleanups.push(() => producer.close())
        url = vhost.url
        send = i => producer.send({ conversation: 'c', author: 'bob', text: `m${i}`, idempotencyKey: `k${i}` })
      } else {
        name = uniqueName('parley_lag')
        const producer = await natsProducer(name)
        cleanups.push(() => producer.close())
        url = NATS_URL
        await producer.manager.streams.add({ name, subjects: [`${name}.>`] })
        send = i => producer.send({ conversation: 'c', author: 'bob', text: `m${i}`, idempotencyKey: `k${i}` })
      }
      for (let i = 0; i < 5; i++) await send(i)
      const ingest = openIngest({ url, name, prefetch: 2, systemUser: 'system', limits: { maxTextBytes: 1024 }, target, register, log: pino({ level: 'silent' }) })
      cleanups.push(() => ingest.close())
      await ingest.start()
      // One conversation: the first write is held, the second waits behind it; three wait in the broker.
      await until(() => state.started === 1)
      await until(async () => (await sample(register, 'parley_ingest_lag_messages')) === 3)
      release()
      await until(async () => (await sample(register, 'parley_ingest_consumed_total')) === 5)
      expect(await sample(register, 'parley_ingest_lag_messages')).toBe(0)
    })
  }
})
