/**
 * `parley chat <id>`: the live timeline, a typing indicator and a prompt. Works on a
 * terminal and over pipes (so it can be scripted): each input line is sent, partial
 * input counts as typing, `/quit` or end of input leaves.
 */
import type { Conversation, ParleyClient, TimelineItem } from '@parley/client'
import { clearLine, createInterface, cursorTo, moveCursor, type Interface } from 'node:readline'
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

/**
 * On a terminal, incoming lines are printed above the prompt and the half-typed input is
 * redrawn below them; over pipes, lines are simply written out.
 */
function screen(output: Output, lines: Interface, tty: boolean): Output {
  if (!tty) return output
  const above = (write: (line: string) => void) => (line: string) => {
    clearLine(process.stdout, 0)
    cursorTo(process.stdout, 0)
    write(line)
    lines.prompt(true)
  }
  return { out: above(output.out), err: above(output.err) }
}

export async function chat(client: ParleyClient, invocation: Invocation, output: Output, input: Readable = process.stdin): Promise<number> {
  const conversation: Conversation = await client.conversation(invocation.args[0]!)
  const tty = (input as { isTTY?: boolean }).isTTY === true
  const lines = tty ? createInterface({ input, output: process.stdout, terminal: true, prompt: '> ' }) : createInterface({ input, terminal: false })
  const view = screen(output, lines, tty)
  const head = conversation.head()
  view.err(`parley: chatting in ${head.title || conversation.id} as ${client.user} (${client.status}). Type a message and press Enter; /quit to leave.`)
  const print = timelinePrinter(view)
  print(conversation.timeline().slice(-BACKLOG))
  const stop = conversation.subscribe(print)
  conversation.on('typing', users => view.err(typingLine(users)))
  client.on('status', status => view.err(`parley: ${status}`))
  client.on('error', error => view.err(`parley: ${error.code}: ${error.message}`))

  if (tty) {
    input.on('keypress', (_text: string, key: { name?: string } | undefined) => key?.name !== 'return' && conversation.setTyping(true))
  } else {
    input.on('data', (chunk: Buffer | string) => {
      // Anything short of a full line is someone typing.
      if (!String(chunk).endsWith('\n')) conversation.setTyping(true)
    })
  }
  let sending = Promise.resolve()
  for await (const line of lines) {
    const text = line.trim()
    if (text === '/quit') break
    if (text === '') continue
    // The typed line comes back as a timeline entry; drop the echo so it shows once.
    if (tty) {
      moveCursor(process.stdout, 0, -1)
      clearLine(process.stdout, 0)
    }
    conversation.setTyping(false)
    sending = sending.then(() => conversation.send(text).then(() => undefined))
    await sending
  }
  stop()
  lines.close()
  return 0
}
