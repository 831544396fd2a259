/**
 * Parley: seeded through the server's own HTTP routes (in this process, `inject`, no
 * socket) on the benchmark's data directory; touched over HTTP by the owner, which loads
 * the conversation's documents into the real server process.
 */
import { createParleyServer } from '@parley/sync-server'
import { SignJWT } from 'jose'
import { inParallel } from '../lib/parallel.ts'
import { ownerOf, SECRET, seedText, type ResidentSystem } from './system.ts'

const tokens = new Map<string, Promise<string>>()
const token = (user: string) => {
  if (!tokens.has(user)) tokens.set(user, new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('4h').sign(new TextEncoder().encode(SECRET)))
  return tokens.get(user)!
}

/** Idle documents leave memory after 10 s (the default is 5 min), so a run of minutes shows it. */
const IDLE_ARGS = ['--doc-idle-ms', '10000']

export const parleyResident: ResidentSystem = {
  server: 'parley',
  serverArgs: IDLE_ARGS,
  async seed(dataDir, count, progress) {
    // Seeding keeps few documents loaded: with thousands in memory each new one costs more.
    const server = await createParleyServer({ dataDir, port: 0, jwtSecret: SECRET, logLevel: 'warn', maxLoadedDocuments: 1000, documentIdleMs: 2000 })
    const ids: string[] = new Array(count)
    let done = 0
    try {
      await inParallel(count, 8, async index => {
        const authorization = `Bearer ${await token(ownerOf(index))}`
        const created = await server.app.inject({ method: 'POST', url: '/v1/conversations', headers: { authorization }, payload: { kind: 'group', title: `c${index}`, members: [] } })
        if (created.statusCode !== 201) throw new Error(`seeding conversation ${index}: HTTP ${created.statusCode} ${created.body}`)
        const id = (created.json() as { id: string }).id
        const published = await server.app.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers: { authorization }, payload: { text: seedText(index) } })
        if (published.statusCode !== 201) throw new Error(`seeding a message: HTTP ${published.statusCode} ${published.body}`)
        ids[index] = id
        progress(++done)
      })
    } finally {
      await server.close()
    }
    return ids
  },
  async connect({ httpUrl }) {
    return {
      async touch(index, id, text) {
        const response = await fetch(`${httpUrl}/v1/conversations/${id}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await token(ownerOf(index))}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text }),
        })
        if (response.status !== 201) throw new Error(`publishing: HTTP ${response.status} ${await response.text()}`)
      },
      close: async () => undefined,
    }
  },
}
