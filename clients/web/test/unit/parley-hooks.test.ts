/**
 * The web app's components on @parley/react through preact/compat (the alias in
 * vite.config.ts and vitest.config.ts), in a DOM from happy-dom and against an
 * in-process server: another user's message and typing reach Preact components.
 * The browser suites cover the whole app; this runs without Chromium.
 */
import { GlobalRegistrator } from '@happy-dom/global-registrator'
import { createClient, type Conversation, type ParleyClient } from '@parley/client'
import { useStatus, useTimeline } from '@parley/react'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { h, render } from 'preact'
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest'

let server: TestServer
const clients: ParleyClient[] = []
let container: HTMLElement

beforeAll(() => {
  GlobalRegistrator.register()
})
afterAll(() => GlobalRegistrator.unregister())
afterEach(async () => {
  render(null, container)
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server?.close()
})

async function connect(user: string): Promise<ParleyClient> {
  const client = await createClient({ server: server.url, token: await server.token(user), storage: { kind: 'memory' } })
  clients.push(client)
  return client
}

it("renders another user's messages and typing in the app's Preact components", async () => {
  // Imported once the DOM globals exist (the components read `document` at module level).
  const { ParleyProvider } = await import('../../src/ui/services.ts')
  const { TypingIndicator } = await import('../../src/ui/conversation/typing-indicator.tsx')
  server = await startTestServer()
  const alice = await connect('alice')
  const bob = await connect('bob')
  const sent = await alice.createConversation({ title: 'compat', members: ['bob'] })
  await bob.sync({ timeout: 15_000 })
  const seen: Conversation = await bob.conversation(sent.id)

  function Messages() {
    const status = useStatus()
    const timeline = useTimeline(sent.id)
    return h('div', null, h('p', { id: 'status' }, status), h('ol', { id: 'messages' }, ...timeline.map(item => h('li', { key: item.id }, item.text))))
  }
  container = document.createElement('div')
  document.body.append(container)
  render(h(ParleyProvider, { client: bob, children: [h(Messages, null), h(TypingIndicator, { conversation: seen })] }), container)
  const text = (selector: string) => container.querySelector(selector)?.textContent ?? ''
  const eventually = (assertion: () => void) => vi.waitFor(assertion, { timeout: 15_000, interval: 20 })

  await eventually(() => expect(text('#status')).toBe('online'))
  await sent.send('hello through compat')
  await eventually(() => expect(text('#messages')).toBe('hello through compat'))
  sent.setTyping(true)
  await eventually(() => expect(text('.typing')).toBe('alice is typing…'))
})
