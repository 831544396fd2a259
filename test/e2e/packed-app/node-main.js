// A plain Node ESM script, run from a project that installed the packed tarballs: no
// TypeScript, no loader, no workspace. Usage: node main.js SERVER_URL ALICE_TOKEN BOB_TOKEN DATA_DIR
import { createClient } from '@parley/client'

const [server, aliceToken, bobToken, dir] = process.argv.slice(2)
const alice = await createClient({ server, token: aliceToken, storage: { kind: 'level', dir } })
const conversation = await alice.createConversation({ title: 'from a packed package', members: ['bob'] })
await conversation.send('hello from plain node')
await alice.sync({ timeout: 30_000 })

// A second device with nothing local: whatever it reads came through the server.
const bob = await createClient({ server, token: bobToken, storage: { kind: 'memory' } })
await bob.sync({ timeout: 30_000 })
const seen = await bob.conversation(conversation.id)
console.log(JSON.stringify({ id: conversation.id, title: seen.title, alice: conversation.timeline(), bob: seen.timeline(), bobConversations: bob.conversations() }))
await Promise.all([alice.close(), bob.close()])
