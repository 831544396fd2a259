/** Everything a signed-in session runs: the client, the outbox, the conversation list. */
import type { ParleyClient } from '@parley/client'
import type { Session } from '../session/session.ts'
import { dropConnectionWhenOffline } from './browser-network.ts'
import { Directory } from './directory.ts'
import { openClient } from './open-client.ts'
import { Outbox } from './outbox.ts'

export interface Services {
  user: string
  client: ParleyClient
  outbox: Outbox
  directory: Directory
  close(): Promise<void>
}

export async function openServices(session: Session): Promise<Services> {
  const client = await openClient(session)
  const outbox = new Outbox(client)
  void outbox.recover()
  const directory = new Directory(client)
  const stopWatching = dropConnectionWhenOffline(client)
  return {
    user: client.user,
    client,
    outbox,
    directory,
    async close() {
      stopWatching()
      directory.close()
      outbox.close()
      await client.close()
    },
  }
}
