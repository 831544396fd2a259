/**
 * Hostile WebSocket traffic against one server while alice and bob keep chatting on it.
 * Every malformed frame must close its connection with the code docs/errors.md gives,
 * the server must keep answering /healthz, and the legit users must lose nothing.
 *
 * In-process (startTestServer): the real-process ServerProcess cannot set maxFrameBytes,
 * and a 64 KiB limit keeps the oversize frames cheap. An exception the server throws
 * still fails the run: vitest reports uncaught errors and rejections.
 *
 * Reproduce or explore: HOSTILE_SEED=<n> npx vitest run --project e2e test/hostile
 */
import type fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { RawClient } from '@parley/sync-server/testing'
import * as gen from './arbitraries.ts'
import { LegitChat } from './legit-chat.ts'
import { health, runCases, settledConnections, type HostileCase, type RunResult } from './run-cases.ts'

const SEED = Number(process.env.HOSTILE_SEED ?? 20_251_127)
const LIMIT = 64 * 1024
/** Hostile connections are spread over several users so no per-user cap decides the outcome. */
const USERS = ['mallory', 'mallet', 'eve', 'trudy']

/** [category, connections, generator, builder]: every category gets its own seeded sample. */
type Category = [string, number, fc.Arbitrary<never>, (value: never, index: number) => HostileCase]
const category = <T,>(name: string, count: number, arb: fc.Arbitrary<T>, build: (value: T, index: number) => HostileCase): Category =>
  [name, count, arb, build] as unknown as Category

const CATEGORIES: Category[] = [
  category('random bytes', 60, gen.randomBytesCase, gen.randomBytes),
  category('valid CBOR of the wrong shape', 90, gen.wrongTypesCase, gen.wrongTypes),
  category('unknown message types after join', 40, gen.unknownTypeCase, gen.unknownType),
  category('truncated valid messages', 50, gen.truncatedCase, gen.truncated),
  category('sync/request with random data', 30, gen.syncGarbageCase, gen.syncGarbage),
  category('sync/request with corrupted changes', 50, gen.corruptedCase, gen.corrupted),
  category('frames over the size limit', 20, gen.oversizeCase(LIMIT), (c, i) => gen.oversize(c, i, LIMIT)),
  category('messages before join', 30, gen.beforeJoinCase, gen.beforeJoin),
  category('join protocol violations', 30, gen.violationCase, gen.violation),
  category('small frames that decode to large documents or changes', 16, gen.decodeBombCase, gen.decodeBomb),
  category('sync messages whose layout costs the server', 12, gen.syncLayoutBombCase, gen.syncLayoutBomb),
]

describe(`hostile frames (seed ${SEED})`, () => {
  let server: TestServer
  let chat: LegitChat
  const totals: Record<string, Omit<RunResult, 'failures'>> = {}
  let turn = 0
  const chatter = { every: 20, run: () => chat.say(turn++ % 2 ? 'bob' : 'alice') }

  beforeAll(async () => {
    server = await startTestServer({ maxFrameBytes: LIMIT })
    chat = await LegitChat.start(server)
  })
  afterAll(async () => {
    console.info(`seed ${SEED}; hostile traffic per category:`)
    console.table(totals)
    await chat?.close()
    await server?.close()
  })

  /** After every batch: the server answers, and alice and bob still reach each other. */
  async function expectServing(): Promise<void> {
    expect((await health(server.httpUrl)).status).toBe(200)
    await chat.roundTrip()
  }

  it.each(CATEGORIES)('%s', async (name, count, arb, build) => {
    const cases = gen.sample(arb, SEED, count, build)
    const { failures, ...counts } = await runCases(server, cases, { users: USERS, interleave: chatter })
    totals[name] = counts
    expect.soft(failures, `seed ${SEED}`).toEqual([])
    await expectServing()
  })

  it("cuts a frame beyond ws's hard cap (twice the limit) with 1009 before reading it", async () => {
    const client = await RawClient.open(server, 'mallory')
    await client.join('hostile-huge')
    client.sendBytes(new Uint8Array(3 * LIMIT))
    expect((await client.closed).code).toBe(1009)
    await expectServing()
  })

  it('closes a connection that floods well-formed messages with 4429', async () => {
    // A user of its own: the rate is per user, and the flooder's reconnects are refused for a while after.
    const client = await RawClient.open(server, 'chatterbox')
    await client.join('hostile-chatterbox')
    // Twice the burst, back to back: far beyond any rate the connection may send at.
    const frame = gen.encodeHeadsRequest('hostile-chatterbox')
    const count = 2 * server.server.options.messageBurst
    for (let i = 0; i < count; i++) client.sendBytes(frame)
    expect((await client.closed).code).toBe(4429)
    totals['message flood'] = { connections: 1, frames: count + 1 }
    await expectServing()
  })

  it('scopes peer IDs to users: claiming another user’s open peer ID joins as a peer of one’s own and displaces no one', async () => {
    const owners: RawClient[] = []
    const claimants: RawClient[] = []
    for (let i = 0; i < 10; i++) {
      const owner = await RawClient.open(server, 'owner')
      owners.push(owner)
      await owner.join(`owned-${i}`)
      const claimant = await RawClient.open(server, USERS[i % USERS.length]!)
      claimants.push(claimant)
      expect(await claimant.join(`owned-${i}`)).toMatchObject({ type: 'peer' })
    }
    for (const owner of owners) expect(owner.socket.readyState).toBe(owner.socket.OPEN)
    for (const client of [...owners, ...claimants]) client.terminate()
    totals['peer ID theft'] = { connections: 20, frames: 20 }
    await expectServing()
  })

  it('survives a flood of connections that join and drop at once', async () => {
    // Sockets left over by earlier categories (say, after a server error) are not the flood's.
    const before = (await health(server.httpUrl)).body.connections
    let connections = 0
    let next = 0
    // Some drop before the server's answer, some after; half without a closing handshake.
    const flood = async (): Promise<void> => {
      for (let i = next++; i < 150; i = next++) {
        const client = await RawClient.open(server, USERS[i % USERS.length]!)
        connections++
        if (i % 3 === 0) client.sendBytes(gen.encodeJoin(`flood-${i}`))
        else await client.join(`flood-${i}`)
        if (i % 2) client.terminate()
        else client.socket.close()
        if (connections % chatter.every === 0) chatter.run()
      }
    }
    await Promise.all(Array.from({ length: 25 }, flood))
    totals['join flood'] = { connections, frames: connections }
    await expectServing()
    // Dropped sockets do not linger: the count falls back to what it was before the flood.
    if (typeof before === 'number') expect(await settledConnections(server.httpUrl, before)).toBeLessThanOrEqual(before)
  })

  it('replaces the older sockets when one user joins the same peer ID many times at once (1000)', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(server, 'eve')))
    await Promise.all(clients.map(client => client.join('eve-everywhere')))
    // Each join replaced the previous holder: all but one socket are closed, with 1000…
    const closes: number[] = []
    await new Promise<void>(resolve => {
      for (const client of clients) void client.closed.then(({ code }) => closes.push(code) === clients.length - 1 && resolve())
    })
    expect(closes).toEqual(Array(9).fill(1000))
    // …and the last holder is still served.
    const holder = clients.find(client => client.socket.readyState === client.socket.OPEN)!
    holder.sendBytes(gen.encodeHeadsRequest('eve-everywhere'))
    expect(await holder.next(message => message.type === 'parley/heads')).toMatchObject({ heads: {} })
    for (const client of clients) client.terminate()
    totals['same peer ID, one user'] = { connections: 10, frames: 10 }
    await expectServing()
  })

  it('delivered every legit message both ways', async () => {
    await chat.expectAllDelivered()
    expect(chat.messagesSent).toBeGreaterThan(40)
    // Hostile traffic on other connections must not have cost alice or bob theirs.
    expect(chat.statusChanges).toEqual([])
    // Every hostile socket is gone from the server: only alice's and bob's remain.
    const remaining = await settledConnections(server.httpUrl, 2)
    if (remaining !== undefined) expect(remaining).toBeLessThanOrEqual(2)
  })
})
