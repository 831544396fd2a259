import type { ParleyClient } from '@parley/client'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { isFatal, syncIfReachable } from '../session.ts'

export async function send(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const [conversationId, text] = invocation.args as [string, string]
  const conversation = await client.conversation(conversationId)
  const id = await conversation.send(text)
  output.out(id)
  if (invocation.servers.length === 0) {
    output.err('parley: saved on this device (no server configured)')
    return 0
  }
  try {
    if (await syncIfReachable(client, invocation, output)) output.err('parley: delivered to the server')
    else output.err('parley: saved on this device; it goes out on the next sync')
  } catch (error) {
    if (isFatal(error)) output.err('parley: saved on this device; it goes out once the server accepts this token and URL')
    throw error
  }
  return 0
}
