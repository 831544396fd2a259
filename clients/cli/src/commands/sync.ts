import type { ParleyClient } from '@parley/client'
import { ClientErrorCodes, ParleyError } from '@parley/client'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'

export async function sync(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  if (!invocation.server) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'sync needs a server: pass --server or set PARLEY_SERVER')
  const timeoutSeconds = invocation.timeoutSeconds ?? 30
  await client.sync({ timeout: timeoutSeconds * 1000 })
  output.err(`parley: in sync with ${invocation.server} (${client.conversations().length} conversations)`)
  return 0
}
