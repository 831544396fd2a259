import type { ParleyClient } from '@parley/client'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { syncIfReachable } from '../session.ts'

export async function send(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const [conversationId, text] = invocation.args as [string, string]
  const conversation = await client.conversation(conversationId)
  const id = await conversation.send(text)
  output.out(id)
  if (!invocation.server) output.err('parley: saved on this device (no server configured)')
  else if (await syncIfReachable(client, output)) output.err('parley: delivered to the server')
  else output.err('parley: saved on this device; it goes out on the next sync')
  return 0
}
