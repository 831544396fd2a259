/**
 * `parley chat <id>`: the live timeline, one status line (connection, who is typing) and a
 * prompt (chat-view.ts). Works on a terminal and over pipes (so it can be scripted): each
 * input line is sent, partial input counts as typing, `/quit` or end of input leaves.
 * What is shown is read: the read cursor follows the newest message on screen. A refused
 * token or a URL that is no sync endpoint ends the chat at once with the reason.
 */
import type { Conversation, ParleyClient, ParleyError, TimelineItem } from '@parley/client'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Invocation } from '../args.ts'
import { ChatView, pipeScreen, terminalScreen } from '../chat-view.ts'
import { textLine } from '../format.ts'
import type { Output } from '../io.ts'
import { fatalConnectionError, isFatal } from '../session.ts'

const BACKLOG = 20

/** Prints each message once, and again when it is edited or deleted. */
function timelinePrinter(view: ChatView, me: string): (timeline: TimelineItem[]) => void {
  const shown = new Map<string, string>()
  return timeline => {
    for (const item of timeline) {
      const line = textLine(item, me)
      if (shown.get(item.id) === line) continue
      shown.set(item.id, line)
      view.line(line)
    }
  }
}

/** Moves the read cursor to the newest message once something unread is on screen. */
function markShownRead(conversation: Conversation): void {
  if (conversation.unreadCount() > 0) void conversation.markRead().catch(() => undefined)
}

export async function chat(client: ParleyClient, invocation: Invocation, output: Output, input: Readable = process.stdin): Promise<number> {
  const fatal = fatalConnectionError(client)
  const conversation: Conversation = await Promise.race([client.conversation(invocation.args[0]!), fatal.failed])
  const tty = (input as { isTTY?: boolean }).isTTY === true && process.stdout.isTTY === true
  const lines = tty ? createInterface({ input, output: process.stdout, terminal: true, prompt: '> ' }) : createInterface({ input, terminal: false })
  const terminal = tty ? terminalScreen(process.stdout, () => lines.prompt(true)) : undefined
  const head = conversation.head()
  output.err(`parley: chatting in ${head.title || conversation.id} as ${client.user}. Type a message and press Enter; /quit to leave.`)
  const view = new ChatView(terminal ?? pipeScreen(output), client.status, client.connectionProblem?.message)
  terminal?.start()
  const print = timelinePrinter(view, client.user)
  print(conversation.timeline().slice(-BACKLOG))
  markShownRead(conversation)
  const stop = conversation.subscribe(timeline => {
    print(timeline)
    markShownRead(conversation)
  })
  const onTyping = (users: string[]): void => view.typing(users)
  const onStatus = (status: Parameters<ChatView['connection']>[0]): void => view.connection(status, client.connectionProblem?.message)
  const onError = (error: ParleyError): void => {
    // Connection failures show in the status line; a refused change is news.
    if (!isFatal(error) && error.code !== 'PARLEY_ERR_UNREACHABLE') view.line(`parley: ${error.code}: ${error.message}`, 'err')
  }
  conversation.on('typing', onTyping)
  client.on('status', onStatus)
  client.on('error', onError)

  if (tty) {
    input.on('keypress', (_text: string, key: { name?: string } | undefined) => key?.name !== 'return' && conversation.setTyping(true))
  } else {
    input.on('data', (chunk: Buffer | string) => {
      // Anything short of a full line is someone typing.
      if (!String(chunk).endsWith('\n')) conversation.setTyping(true)
    })
  }
  const typed = (async () => {
    for await (const line of lines) {
      const text = line.trim()
      if (text === '/quit') break
      // The typed line comes back as a timeline entry; take the echo away so it shows once.
      terminal?.afterEnter()
      if (text === '') continue
      // Sending ends the typing indicator by itself (the SDK's typing.ts).
      await conversation.send(text)
    }
  })()
  try {
    await Promise.race([typed, fatal.failed])
    return 0
  } finally {
    fatal.stop()
    stop()
    conversation.off('typing', onTyping)
    client.off('status', onStatus)
    client.off('error', onError)
    lines.close()
  }
}
