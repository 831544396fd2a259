/**
 * Crash consistency: the server is SIGKILLed at seeded random points while four users
 * keep writing into three conversations (20 kills a run). After every restart all
 * clients converge on the same timelines, holding every message anyone sent; at the end
 * the server's own database loads document by document without a corrupt or unloadable
 * chunk, and holds every message.
 */
import type { Conversation, ParleyClient } from '@parley/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { allTexts, connectClient } from './support/clients.ts'
import { seededRandom, seedFromEnv, sleep } from './support/random.ts'
import { recordResult } from './support/results.ts'
import { SCALE } from './support/scale.ts'
import { checkStoredDocuments } from './support/storage-check.ts'

const USERS = ['alice', 'bob', 'carol', 'dave']
// Small segments: writers cut off from each other by a kill start new segments
// concurrently, often (PARLEY_SEGMENT_SIZE=1000 runs with the default size).
const SEGMENT_SIZE = Number(process.env.PARLEY_SEGMENT_SIZE ?? 100)

describe('SIGKILL during sustained load', () => {
  let server: ServerProcess
  const clients = new Map<string, ParleyClient>()
  beforeAll(async () => {
    // Short idle time: unloading and reloading documents is part of what gets killed.
    server = await ServerProcess.start((process.env.PARLEY_CRASH_ARGS ?? '--doc-idle-ms 2000').split(' ').filter(Boolean))
  })
  afterAll(async () => {
    await Promise.all([...clients.values()].map(client => client.close()))
    await server?.stop()
  })

  it(`loses nothing across ${SCALE.kills} kills at random points`, async () => {
    const random = seededRandom(seedFromEnv(20_260_528))
    for (const user of USERS) clients.set(user, await connectClient(server, user, { segmentSize: SEGMENT_SIZE }))
    const alice = clients.get('alice')!
    const bob = clients.get('bob')!
    const ids = [
      (await alice.createConversation({ title: 'one', members: USERS.slice(1) })).id,
      (await alice.createConversation({ title: 'two', members: USERS.slice(1) })).id,
      (await bob.createConversation({ title: 'three', members: USERS.filter(user => user !== 'bob') })).id,
    ]
    await Promise.all([...clients.values()].map(client => client.sync({ timeout: 30_000 })))
    const open = new Map<string, Conversation[]>()
    for (const user of USERS) open.set(user, await Promise.all(ids.map(id => clients.get(user)!.conversation(id))))

    const sent = new Map<string, Set<string>>(ids.map(id => [id, new Set()]))
    let sending = true
    let counter = 0
    /** Each user writes into a random conversation every 20–80 ms until `sending` is cleared. */
    const write = async (user: string): Promise<void> => {
      const conversations = open.get(user)!
      while (sending) {
        const index = Math.floor(random() * conversations.length)
        const text = `${user} #${counter++}`
        await conversations[index]!.send(text)
        sent.get(ids[index]!)!.add(text)
        await sleep(20 + random() * 60)
      }
    }
    const writers = USERS.map(write)

    const converge = async (): Promise<number> => {
      try {
        // Two passes: in the first each client uploads what it has; the second brings everyone what the others uploaded.
        for (let pass = 0; pass < 2; pass++) await Promise.all([...clients.values()].map(client => client.sync({ timeout: 60_000 })))
      } catch (error) {
        process.stdout.write(`after kill ${kills}: ${(error as Error).message}\nstatuses ${[...clients.values()].map(c => c.status).join(',')}\nserver log tail:\n${server.log.slice(-4000)}\n`)
        throw error
      }
      let checked = 0
      for (const [index, id] of ids.entries()) {
        const expected = [...sent.get(id)!].sort()
        const timelines = await Promise.all(USERS.map(user => allTexts(open.get(user)![index]!)))
        for (const [u, timeline] of timelines.entries()) {
          if ([...timeline].sort().join() !== expected.join() && process.env.PARLEY_DIAGNOSE) {
            const conversation = open.get(USERS[u]!)![index]!
            const fresh = await connectClient(server, USERS[u]!, { segmentSize: SEGMENT_SIZE })
            await fresh.sync({ timeout: 60_000 })
            const freshTexts = await allTexts(await fresh.conversation(id))
            await fresh.close()
            process.stdout.write(`DIAGNOSE ${USERS[u]} conv ${index}: has ${timeline.length}/${expected.length}; segments ${conversation.head().segments.length} missing ${JSON.stringify(conversation.missingSegments())}; fresh device has ${freshTexts.length}; missing ${expected.filter(t => !timeline.includes(t)).slice(0, 5)}\n`)
            await sleep(5000)
            await clients.get(USERS[u]!)!.sync({ timeout: 60_000 })
            process.stdout.write(`DIAGNOSE after 5 s: ${(await allTexts(conversation)).length}\n`)
          }
          // Same order on every replica, and exactly the messages sent.
          expect(timeline, `${USERS[u]} in conversation ${index}`).toEqual(timelines[0])
          expect([...timeline].sort(), `${USERS[u]} in conversation ${index}`).toEqual(expected)
        }
        checked += expected.length
      }
      return checked
    }

    const restartMs: number[] = []
    const convergeMs: number[] = []
    let kills = 0
    let checked = 0
    try {
      for (; kills < SCALE.kills; ) {
        await sleep(200 + random() * 1000)
        await server.kill('SIGKILL')
        kills++
        await sleep(random() * 300) // clients keep writing offline
        const restarting = performance.now()
        await server.restart()
        restartMs.push(performance.now() - restarting)
        // Pause the writers, check, resume: convergence is checked against a fixed set.
        sending = false
        await Promise.all(writers.splice(0))
        const converging = performance.now()
        checked = await converge()
        convergeMs.push(performance.now() - converging)
        sending = true
        writers.push(...USERS.map(write))
      }
    } finally {
      sending = false
      await Promise.all(writers)
    }
    checked = await converge()

    // The server's own storage, read directly after one last kill: loads chunk by chunk, holds everything.
    await server.kill('SIGKILL')
    const storage = await checkStoredDocuments(server.dataDir)
    expect(storage.corrupt).toEqual([])
    expect(storage.unloadable).toEqual([])
    const all = [...sent.values()].flatMap(set => [...set])
    const missingOnServer = all.filter(text => !storage.texts.has(text))
    expect(server.log).not.toMatch(/unhandled rejection|corrupt value/)
    await recordResult('crash-kills', {
      kills,
      messagesSent: all.length,
      messagesChecked: checked,
      // Killed before its last writes reached disk, the server gets them back from clients on reconnect;
      // what it lacks after the final kill is what the clients would resupply.
      missingOnServerAfterFinalKill: missingOnServer.length,
      storedDocuments: storage.documents,
      storedChunks: storage.chunks,
      restartMs: { median: Math.round(restartMs.sort((a, b) => a - b)[Math.floor(restartMs.length / 2)]!), max: Math.round(Math.max(...restartMs)) },
      convergeMs: { median: Math.round(convergeMs.sort((a, b) => a - b)[Math.floor(convergeMs.length / 2)]!), max: Math.round(Math.max(...convergeMs)) },
    })
    expect(kills).toBe(SCALE.kills)
    expect(checked).toBe(all.length)
  })
})
