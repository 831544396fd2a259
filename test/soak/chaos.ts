/**
 * What the soak throws at the deployment, one thing at a time at seeded random moments:
 * a SIGKILL and restart of a node, a graceful restart, a client that stops reading (it
 * must be closed with 4408), a client whose network drops, and in cluster mode a Redis
 * bounce. Each event is logged with its outcome.
 */
import { cbor } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import type { ParleyClient } from '@parley/client'
import { RawClient } from '@parley/sync-server/testing'
import type { ServerProcess } from '../support/server-process.ts'
import { metricValue, scrape } from '../reliability/support/clients.ts'
import { sleep } from '../reliability/support/random.ts'
import type { Deployment } from './cluster.ts'

export type ChaosKind = 'kill' | 'restart' | 'slow-client' | 'drop-client' | 'redis-bounce'

export interface ChaosEvent {
  kind: ChaosKind
  at: number
  node?: number
  ms: number
  outcome: string
}

const [, INITIAL_SYNC] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())

export interface ChaosContext {
  deployment: Deployment
  clients: ParleyClient[]
  /** A conversation and two of its members, for the slow client. */
  conversation: { id: string; members: string[] }
  random: () => number
  log: (line: string) => void
}

export function chaosKinds(deployment: Deployment): ChaosKind[] {
  return ['kill', 'kill', 'restart', 'slow-client', 'drop-client', ...(deployment.redis ? (['redis-bounce', 'redis-bounce'] as const) : [])]
}

export async function unleash(kind: ChaosKind, context: ChaosContext): Promise<ChaosEvent> {
  const { deployment, random } = context
  const started = Date.now()
  const index = Math.floor(random() * deployment.nodes.length)
  const node = deployment.nodes[index]!
  let outcome = 'ok'
  switch (kind) {
    case 'kill':
      await node.kill('SIGKILL')
      await sleep(random() * 2_000)
      await node.restart()
      break
    case 'restart':
      outcome = `exit ${await node.kill('SIGTERM')}`
      await node.restart()
      break
    case 'slow-client':
      outcome = await slowClient(node, context)
      break
    case 'drop-client': {
      const client = context.clients[Math.floor(random() * context.clients.length)]!
      client.dropConnection()
      outcome = `dropped ${client.user}`
      break
    }
    case 'redis-bounce':
      await deployment.redis!.kill()
      await sleep(500 + random() * 2_500)
      await deployment.redis!.restart()
      break
  }
  const event = { kind, at: started, node: index, ms: Date.now() - started, outcome }
  context.log(`chaos ${kind} on node ${index}: ${outcome} (${event.ms} ms)`)
  return event
}

/** A member subscribes and stops reading while 16 KiB typing frames flow; the server must close it with 4408. */
async function slowClient(node: ServerProcess, { conversation }: ChaosContext): Promise<string> {
  const [slowUser, noisyUser] = conversation.members
  const endpoint = (user: string) => ({ url: `${node.url}/sync`, token: () => node.token(user) })
  const closedBefore = metricValue(await scrape(`http://127.0.0.1:${node.port}`), 'parley_connections_closed_total', '{code="4408"}') || 0
  const slow = await RawClient.open(endpoint(slowUser!), slowUser!)
  const noisy = await RawClient.open(endpoint(noisyUser!), noisyUser!)
  try {
    const slowPeer = `soak-slow-${Date.now()}`
    const noisyPeer = `soak-noisy-${Date.now()}`
    const { senderId: serverPeer } = await slow.join(slowPeer)
    await noisy.join(noisyPeer)
    slow.send({ type: 'request', senderId: slowPeer, targetId: serverPeer, documentId: conversation.id, data: INITIAL_SYNC })
    await Promise.race([slow.next(message => message.documentId === conversation.id), sleep(5_000)])
    ;(slow.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    for (let count = 1; count <= 1_000; count++) {
      noisy.sendBytes(cbor.encode({ type: 'ephemeral', senderId: noisyPeer, targetId: serverPeer, documentId: conversation.id, sessionId: noisyPeer, count, data: cbor.encode({ pad: 'x'.repeat(16 * 1024) }) }))
      if (count % 20 === 0) {
        await sleep(120) // under the rate limit
        const closed = metricValue(await scrape(`http://127.0.0.1:${node.port}`), 'parley_connections_closed_total', '{code="4408"}') || 0
        if (closed > closedBefore) return `closed with 4408 after ${count} frames`
      }
    }
    return 'NOT closed with 4408'
  } catch (error) {
    return `slow client aborted: ${(error as Error).message}`
  } finally {
    slow.terminate()
    noisy.socket.close()
  }
}
