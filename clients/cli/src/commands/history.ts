import type { ParleyClient } from '@parley/client'
import type { Invocation } from '../args.ts'
import { jsonLine, textLine } from '../format.ts'
import type { Output } from '../io.ts'
import { syncIfReachable } from '../session.ts'

export async function history(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  if (invocation.servers.length > 0) await syncIfReachable(client, invocation, output)
  const conversation = await client.conversation(invocation.args[0]!)
  const limit = invocation.limit ?? Number.POSITIVE_INFINITY
  while (conversation.timeline().length < limit && conversation.hasOlder()) await conversation.loadOlder()
  for (const item of conversation.timeline().slice(-limit)) output.out(invocation.json ? jsonLine(item, client.user) : textLine(item, client.user))
  return 0
}
