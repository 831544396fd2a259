/**
 * `npm run soak -- --minutes N`: mixed load against real server processes for N minutes
 * (writers in every conversation, kills, graceful restarts, slow clients, dropped
 * connections, and Redis bounces in cluster mode), then a full check: every sent
 * message (logged by this generator as it is written) is in every replica's timeline,
 * in the same order everywhere, on every client and on each server node (read by a
 * fresh device), and in each node's database. Bounded: it stops by itself.
 */
import type { Conversation, ParleyClient } from '@parley/client'
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { allTexts, connectClient } from '../reliability/support/clients.ts'
import { rssMiB } from '../reliability/support/proc.ts'
import { seededRandom, sleep } from '../reliability/support/random.ts'
import { checkStoredDocuments } from '../reliability/support/storage-check.ts'
import { chaosKinds, unleash, type ChaosEvent } from './chaos.ts'
import { deploy } from './cluster.ts'
import { soakOptions } from './options.ts'

const options = soakOptions(process.argv.slice(2))
const out = resolve(options.out)
await mkdir(out, { recursive: true })
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const sentLog = join(out, `sent-${stamp}.jsonl`)
const log = (line: string): void => void process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
// Bounded whatever happens: the run, five minutes to check, then out.
const hardStop = setTimeout(() => {
  log('hard time limit reached: giving up')
  process.exit(3)
}, (options.minutes + 5) * 60_000)
hardStop.unref()

const random = seededRandom(options.seed)
log(`seed ${options.seed}, ${options.minutes} min, ${options.users} users, ${options.conversations} conversations, ${options.nodes} node(s); sent messages logged to ${sentLog}`)
const deployment = await deploy(options.nodes, ['--max-buffered-bytes', String(1024 * 1024), '--doc-idle-ms', '20000'])
const users = Array.from({ length: options.users }, (_, i) => `soak-user-${i}`)
const clients: ParleyClient[] = []
let peakRss = 0
const rssSampler = setInterval(() => {
  for (const node of deployment.nodes) {
    try {
      const rss = node.pid ? rssMiB(node.pid) : Number.NaN
      if (Number.isFinite(rss)) peakRss = Math.max(peakRss, rss)
    } catch {
      // exited between the check and the read
    }
  }
}, 1_000)

let exitCode = 1
try {
  for (const [i, user] of users.entries()) clients.push(await connectClient(deployment.nodes[i % deployment.nodes.length]!, user))
  const ids: string[] = []
  for (let c = 0; c < options.conversations; c++) ids.push((await clients[c % clients.length]!.createConversation({ title: `soak ${c}`, members: users.filter((_, i) => i !== c % clients.length) })).id)
  await Promise.all(clients.map(client => client.sync({ timeout: 60_000 })))
  const open = await Promise.all(clients.map(client => Promise.all(ids.map(id => client.conversation(id)))))

  const sent = new Map<string, Set<string>>(ids.map(id => [id, new Set()]))
  let counter = 0
  let writing = true
  const writers = clients.map(async (client, u) => {
    while (writing) {
      const c = Math.floor(random() * ids.length)
      const text = `${client.user} #${counter++}`
      await open[u]![c]!.send(text)
      sent.get(ids[c]!)!.add(text)
      await appendFile(sentLog, `${JSON.stringify({ conversation: ids[c], user: client.user, text, at: Date.now() })}\n`)
      await sleep(100 + random() * 400)
    }
  })

  const events: ChaosEvent[] = []
  const ends = Date.now() + options.minutes * 60_000
  const kinds = chaosKinds(deployment)
  while (Date.now() < ends) {
    await sleep(Math.min(ends - Date.now(), 3_000 + random() * 9_000))
    if (Date.now() >= ends) break
    const kind = kinds[Math.floor(random() * kinds.length)]!
    events.push(await unleash(kind, { deployment, clients, conversation: { id: ids[0]!, members: users.slice(1, 3) }, random, log }))
  }
  writing = false
  await Promise.all(writers)
  log(`load stopped: ${counter} messages sent; checking`)

  // Every client replica: synced, identical order, exactly what was sent.
  await Promise.all(clients.map(client => client.sync({ timeout: 120_000 })))
  const problems: string[] = []
  let checked = 0
  const verify = (who: string, texts: string[][]): void => {
    for (const [c, id] of ids.entries()) {
      const expected = [...sent.get(id)!].sort()
      const actual = texts[c]!
      if ([...actual].sort().join('\n') !== expected.join('\n')) {
        const missing = expected.filter(text => !actual.includes(text))
        problems.push(`${who}, conversation ${c}: ${missing.length} missing (${missing.slice(0, 3).join(', ')}), ${actual.length - (expected.length - missing.length)} unexpected`)
      }
      checked += expected.length
    }
  }
  const reference = await Promise.all(open[0]!.map(conversation => allTexts(conversation)))
  for (const [u, conversations] of open.entries()) {
    const texts = await Promise.all(conversations.map((conversation: Conversation) => allTexts(conversation)))
    verify(`client ${users[u]}`, texts)
    for (const [c, timeline] of texts.entries()) if (timeline.join('\n') !== reference[c]!.join('\n')) problems.push(`client ${users[u]}, conversation ${c}: order differs from ${users[0]}`)
  }
  // Each server node, read by a device that has never seen anything.
  for (const [n, node] of deployment.nodes.entries()) {
    const fresh = await connectClient(node, users[0]!)
    try {
      await fresh.sync({ timeout: 120_000 })
      const texts = await Promise.all(ids.map(async id => allTexts(await fresh.conversation(id))))
      verify(`node ${n} (fresh device)`, texts)
    } finally {
      await fresh.close()
    }
  }
  await Promise.all(clients.map(client => client.close()))
  clients.length = 0
  // Each node's own database, read directly after a last SIGKILL.
  const storage = []
  for (const [n, node] of deployment.nodes.entries()) {
    await node.kill('SIGKILL')
    const stored = await checkStoredDocuments(node.dataDir)
    storage.push({ node: n, documents: stored.documents, chunks: stored.chunks, corrupt: stored.corrupt.length, unloadable: stored.unloadable.length })
    if (stored.corrupt.length + stored.unloadable.length > 0) problems.push(`node ${n} storage: ${[...stored.corrupt, ...stored.unloadable].join('; ')}`)
    const missing = [...sent.values()].flatMap(set => [...set]).filter(text => !stored.texts.has(text))
    if (missing.length > 0) problems.push(`node ${n} database lacks ${missing.length} messages (${missing.slice(0, 3).join(', ')})`)
  }
  const count = (kind: string): number => events.filter(event => event.kind === kind).length
  const summary = {
    passed: problems.length === 0,
    seed: options.seed,
    minutes: options.minutes,
    nodes: options.nodes,
    users: options.users,
    conversations: options.conversations,
    messagesSent: counter,
    messagesChecked: checked,
    replicasChecked: users.length + deployment.nodes.length * 2,
    kills: count('kill'),
    gracefulRestarts: count('restart'),
    slowClients: count('slow-client'),
    slowClientsClosedWith4408: events.filter(event => event.kind === 'slow-client' && /4408/.test(event.outcome)).length,
    droppedConnections: count('drop-client'),
    redisBounces: count('redis-bounce'),
    peakServerRssMiB: Math.round(peakRss),
    storage,
    problems,
    events,
    sentLog,
  }
  await writeFile(join(out, `summary-${stamp}.json`), `${JSON.stringify(summary, null, 2)}\n`)
  log(`${summary.passed ? 'PASSED' : 'FAILED'}: ${checked} message checks over ${summary.replicasChecked} replicas; ${summary.kills} kills, ${summary.gracefulRestarts} restarts, ${summary.slowClientsClosedWith4408}/${summary.slowClients} slow clients closed with 4408, ${summary.droppedConnections} dropped connections, ${summary.redisBounces} Redis bounces; peak server RSS ${summary.peakServerRssMiB} MiB`)
  for (const problem of problems) log(`problem: ${problem}`)
  log(`summary: ${join(out, `summary-${stamp}.json`)}`)
  exitCode = summary.passed ? 0 : 1
} catch (error) {
  log(`aborted: ${(error as Error).stack ?? error}`)
} finally {
  clearInterval(rssSampler)
  await Promise.all(clients.map(client => client.close().catch(() => undefined)))
  await deployment.stop()
}
process.exit(exitCode)
