/**
 * One client of the client-cost benchmark: a real `@parley/client` on LevelDB in its own
 * process. It takes orders over IPC (create, open, send, burst, cpu, close), and follows
 * the conversation it created or opened last; the messages
 * themselves only travel through the server. It reports each message from the other
 * user as it shows in the timeline, and its own CPU (process.cpuUsage) when asked.
 */
import { createClient, type Conversation, type TimelineItem } from '@parley/client'

type Order =
  | { type: 'create'; member: string }
  | { type: 'open'; id: string }
  | { type: 'send'; index: number }
  | { type: 'burst'; from: number; count: number }
  | { type: 'cpu' }
  | { type: 'close' }

const [url, token, dir, segmentSize] = process.argv.slice(2)
const PAD = 'x'.repeat(100)
const reply = (message: object) => process.send!(message)

const client = await createClient({ server: url!, token: token!, storage: { kind: 'level', dir: dir! }, segmentSize: Number(segmentSize) })
let conversation: Conversation | undefined
let unsubscribe = (): void => {}
/** The newest item this process has looked at: a new timeline is read back to it, not from the start. */
let newest: string | undefined

/** Reports the other user's messages added since the last call (new items sit at the end). */
function onTimeline(timeline: TimelineItem[]): void {
  let i = timeline.length - 1
  while (i >= 0 && timeline[i]!.id !== newest) i--
  for (let j = i + 1; j < timeline.length; j++) {
    const item = timeline[j]!
    if (item.author !== client.user) reply({ type: 'got', index: Number(item.text.split('|')[0]) })
  }
  newest = timeline.at(-1)?.id ?? newest
}

process.on('message', async (order: Order) => {
  if (order.type === 'create') {
    unsubscribe()
    conversation = await client.createConversation({ members: [order.member] })
    await client.sync({ timeout: 60_000 })
    newest = undefined
    unsubscribe = conversation.subscribe(onTimeline)
    reply({ type: 'created', id: conversation.id })
  }
  if (order.type === 'open') {
    unsubscribe()
    conversation = await client.conversation(order.id)
    newest = undefined
    unsubscribe = conversation.subscribe(onTimeline)
    reply({ type: 'ready' })
  }
  if (order.type === 'send') {
    await conversation!.send(`${order.index}|${PAD}`.slice(0, 100))
    reply({ type: 'sent', index: order.index })
  }
  if (order.type === 'burst') {
    for (let index = order.from; index < order.from + order.count; index++) await conversation!.send(`${index}|${PAD}`.slice(0, 100))
  }
  if (order.type === 'cpu') {
    const { user, system } = process.cpuUsage()
    reply({ type: 'cpu', user, system })
  }
  if (order.type === 'close') {
    await client.close()
    process.exit(0)
  }
})
process.on('SIGTERM', () => process.exit(0))
reply({ type: 'connected' })
