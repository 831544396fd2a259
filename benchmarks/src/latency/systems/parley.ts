/** Parley: the real `parley-server` process with LevelDB, clients through `@parley/client`. */
import { createClient, DEFAULT_READ_CURSOR_INTERVAL_MS, type Conversation } from '@parley/client'
import { fileURLToPath } from 'node:url'
import { serverFlags, type ClientSide, type System } from './system.ts'

/**
 * The other systems have no per-user limits: the benchmarks measure the server, not its
 * rate limit (one benchmark user publishes far past the default 200 messages/s).
 */
export const UNTHROTTLED = ['--messages-per-second', '1000000', '--message-burst', '1000000']

const PARLEY_BIN = fileURLToPath(new URL('../../../../sync-server/bin/parley-server.js', import.meta.url))

/**
 * A sender or receiver through the client library, doing what the web app does beside it.
 * `readingIntervalMs`: the receiver marks each arriving message read, as the web app does
 * while the conversation is visible (clients/web conversation-view.tsx `useMarkRead`), with
 * the client's read cursor written at most once per that many ms (clients/sdk/src/
 * read-cursor.ts; 0: every move at once): each write is a `read` event in the segment,
 * which the server relays and stores as it does a message. `typing`: the sender signals
 * typing before each message as the web app's composer does (clients/sdk/src/typing.ts).
 */
async function parleyClient(url: string, token: string, as: { readingIntervalMs?: number; typing?: boolean } = {}): Promise<ClientSide> {
  const reading = as.readingIntervalMs !== undefined
  const client = await createClient({ server: url, token, ...(reading && { readCursorIntervalMs: as.readingIntervalMs }) })
  let conversation: Conversation | undefined
  return {
    async create() {
      conversation = await client.createConversation({ members: ['receiver'] })
      await client.sync()
      return conversation.id
    },
    async open(id, onText) {
      const opened = await client.conversation(id)
      // New items come last: read back to the newest one seen, not the whole timeline.
      let newest = opened.timeline().at(-1)?.id
      opened.subscribe(timeline => {
        let i = timeline.length - 1
        while (i >= 0 && timeline[i]!.id !== newest) i--
        for (let j = i + 1; j < timeline.length; j++) onText(timeline[j]!.text)
        newest = timeline.at(-1)?.id ?? newest
        if (reading && opened.unreadCount() > 0) void opened.markRead(newest)
      })
    },
    async send(text) {
      await conversation!.send(text)
      // As the web app's composer: typing starts again for the next message (sending ended it).
      if (as.typing) conversation!.setTyping(true)
    },
    close: () => client.close(),
  }
}

export const parley: System = {
  name: 'Parley',
  path: '/sync',
  serverCommand: (port, dataDir, secret) => ({
    command: process.execPath,
    // BENCH_PARLEY_ARGS="--postgres postgres://…" (or any parley-server options) goes to the server.
    args: [...serverFlags(), PARLEY_BIN, '--port', String(port), '--data', dataDir, '--jwt-secret', secret, '--log-level', 'warn', ...UNTHROTTLED, ...(process.env.BENCH_PARLEY_ARGS?.split(' ').filter(Boolean) ?? [])],
  }),
  client: (url, token) => parleyClient(url, token),
  async frames(port) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const count = (direction: string) => Number(new RegExp(`parley_sync_messages_total\\{direction="${direction}"\\} (\\d+)`).exec(text)?.[1] ?? Number.NaN)
    return { in: count('in'), out: count('out') }
  },
}

/** Parley with the receiver marking each message read as it arrives, as the web app does: the client's default read-cursor interval. */
export const parleyReading: System = {
  ...parley,
  name: 'Parley, receiver marking read',
  client: (url, token) => parleyClient(url, token, { readingIntervalMs: DEFAULT_READ_CURSOR_INTERVAL_MS }),
}

/** The same with every move of the read cursor written at once (`readCursorIntervalMs: 0`), as before the interval. */
export const parleyReadingAtOnce: System = {
  ...parley,
  name: 'Parley, receiver marking read, every move written',
  client: (url, token) => parleyClient(url, token, { readingIntervalMs: 0 }),
}

/**
 * Parley with the sender typing before each message, as the web app's composer signals it
 * (clients/web composer.tsx): "typing" as the next message starts, an ephemeral message the
 * server relays to the receiver; the message itself ends it (clients/sdk/src/typing.ts).
 */
export const parleyTyping: System = {
  ...parley,
  name: 'Parley, sender typing',
  client: (url, token) => parleyClient(url, token, { typing: true }),
}

/** Parley with segments served by the automerge-repo Repo (`--no-relay-core`), the path before the relay core (issue 15). */
export const parleyRepoPath: System = {
  ...parley,
  name: 'Parley --no-relay-core',
  serverCommand: (port, dataDir, secret) => {
    const command = parley.serverCommand(port, dataDir, secret)
    return { ...command, args: [...command.args, '--no-relay-core'] }
  },
}
