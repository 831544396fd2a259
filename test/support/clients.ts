import { createClient, type ParleyClient } from '@parley/client'
import type { ServerProcess } from './server-process.ts'

/** Fast reconnects keep tests short; the policy itself is unit-tested with fake timers. */
export const TEST_RECONNECT = { minMs: 50, maxMs: 500 }

export class ClientPool {
  readonly #clients: ParleyClient[] = []

  /** `tokenTtl` sets how long each token the client's callback mints lives (default 1h). */
  async connect(server: ServerProcess, user: string, options: { dir?: string; tokenTtl?: string } = {}): Promise<ParleyClient> {
    const client = await createClient({
      server: server.url,
      token: () => server.token(user, options.tokenTtl),
      storage: options.dir ? { kind: 'level', dir: options.dir } : { kind: 'memory' },
      reconnect: TEST_RECONNECT,
    })
    this.#clients.push(client)
    return client
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map(client => client.close()))
  }
}

export function onStatus(client: ParleyClient, status: string): Promise<void> {
  if (client.status === status) return Promise.resolve()
  return new Promise(resolve => {
    const listener = (next: string): void => {
      if (next !== status) return
      client.off('status', listener)
      resolve()
    }
    client.on('status', listener)
  })
}
