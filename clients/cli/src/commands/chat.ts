/**
 * `parley chat <id>`: the live timeline, a typing indicator and a prompt. Works on a
 * terminal and over pipes (so it can be scripted): each input line is sent, partial
 * input counts as typing, `/quit` or end of input leaves.
 */
import type { Conversation, ParleyClient, TimelineItem } from '@parley/client'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Invocation } from '../args.ts'
import { textLine } from '../format.ts'
import type { Output } from '../io.ts'

const BACKLOG = 20

function typingLine(users: string[]): string {
  if (users.length === 0) return '… nobody is typing'
  return `… ${users.join(', ')} ${users.length === 1 ? 'is' : 'are'} typing`
}

/** Prints each message once, and again when it is edited or deleted. */
function timelinePrinter(output: Output): (timeline: TimelineItem[]) => void {
  const shown = new Map<string, string>()
  return timeline => {
    for (const item of timeline) {
      const line = textLine(item)
      if (shown.get(item.id) === line) continue
      shown.set(item.id, line)
      output.out(line)
    }
  }
}

export async function chat(client: ParleyClient, invocation: Invocation, output: Output, input: Readable = process.stdin): Promise<number> {
  const conversation: Conversation = await client.conversation(invocation.args[0]!)
  const head = conversation.head()
  output.err(`parley: chatting in ${head.title || conversation.id} as ${client.user} (${client.status}). Type a message and press Enter; /quit to leave.`)
  const print = timelinePrinter(output)
  print(conversation.timeline().slice(-BACKLOG))
  const stop = conversation.subscribe(print)
  conversation.on('typing', users => output.err(typingLine(users)))
  client.on('status', status => output.err(`parley: ${status}`))
  client.on('error', error => output.err(`parley: ${error.code}: ${error.message}`))

  input.on('data', (chunk: Buffer | string) => {
    // Anything short of a full line is someone typing.
    if (!String(chunk).endsWith('\n')) conversation.setTyping(true)
  })
  const lines = createInterface({ input, terminal: false })
  let sending = Promise.resolve()
  for await (const line of lines) {
    const text = line.trim()
    if (text === '/quit') break
    if (text === '') continue
    conversation.setTyping(false)
    sending = sending.then(() => conversation.send(text).then(() => undefined))
    await sending
  }
  stop()
  return 0
}
