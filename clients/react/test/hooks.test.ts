/**
 * The hooks in real React components, on a client connected to a real (in-process)
 * server, while ANOTHER client writes: each component shows the other's change, and a
 * component re-renders only when its own hook's data changes.
 */
import { createClient, type ParleyClient } from '@parley/client'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { createElement, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { flushSync } from 'react-dom'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ParleyProvider, useClient, useConversation, useConversations, useHead, useStatus, useTimeline, useTyping } from '../src/index.ts'

const h = createElement

let server: TestServer
const clients: ParleyClient[] = []
const roots: Root[] = []

beforeEach(async () => {
  server = await startTestServer()
})
afterEach(async () => {
  for (const root of roots.splice(0)) flushSync(() => root.unmount())
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server.close()
})

async function connect(user: string): Promise<ParleyClient> {
  const client = await createClient({ server: server.url, token: await server.token(user), storage: { kind: 'memory' } })
  clients.push(client)
  return client
}

/** Renders `element` under a provider for `client`; returns the container. */
function render(client: ParleyClient, element: ReactNode): HTMLElement {
  const container = document.createElement('div')
  document.body.append(container)
  const root = createRoot(container)
  roots.push(root)
  flushSync(() => root.render(h(ParleyProvider, { client }, element)))
  return container
}

/** Counts renders per component name. */
function counter() {
  const renders = new Map<string, number>()
  return {
    renders,
    count: (name: string) => renders.set(name, (renders.get(name) ?? 0) + 1),
  }
}

const text = (container: HTMLElement, testId: string): string => container.querySelector(`[data-testid="${testId}"]`)?.textContent ?? ''
const eventually = (assertion: () => void) => vi.waitFor(assertion, { timeout: 15_000, interval: 20 })

describe('@parley/react hooks', () => {
  it('show what another client writes, and re-render only on their own data', async () => {
    const alice = await connect('alice')
    const bob = await connect('bob')
    const conversation = await alice.createConversation({ title: 'plans', members: ['bob'] })
    await conversation.send('first')
    const { renders, count } = counter()

    function Status() {
      count('status')
      return h('p', { 'data-testid': 'status' }, useStatus())
    }
    function List() {
      count('list')
      return h('ul', { 'data-testid': 'list' }, ...useConversations().map(summary => h('li', { key: summary.id }, summary.title ?? summary.id)))
    }
    function Title({ id }: { id: string }) {
      count('title')
      return h('h1', { 'data-testid': 'title' }, useHead(id)?.title ?? '…')
    }
    function Timeline({ id }: { id: string }) {
      count('timeline')
      return h('ol', { 'data-testid': 'timeline' }, ...useTimeline(id).map(item => h('li', { key: item.id }, `${item.author}: ${item.text}`)))
    }
    function Typing({ id }: { id: string }) {
      count('typing')
      return h('p', { 'data-testid': 'typing' }, useTyping(id).join(', '))
    }

    const view = render(bob, [h(Status, { key: 's' }), h(List, { key: 'l' }), h(Title, { key: 'h', id: conversation.id }), h(Timeline, { key: 't', id: conversation.id }), h(Typing, { key: 'y', id: conversation.id })])
    await eventually(() => expect(text(view, 'status')).toBe('online'))
    await eventually(() => expect(text(view, 'list')).toBe('plans'))
    await eventually(() => expect(text(view, 'timeline')).toBe('alice: first'))
    expect(text(view, 'title')).toBe('plans')

    // A new message from alice: the timeline re-renders; status, list, title and typing do not.
    const before = new Map(renders)
    await conversation.send('second')
    await eventually(() => expect(text(view, 'timeline')).toBe('alice: firstalice: second'))
    expect(renders.get('status')).toBe(before.get('status'))
    expect(renders.get('list')).toBe(before.get('list'))
    expect(renders.get('typing')).toBe(before.get('typing'))
    expect(renders.get('timeline')).toBeGreaterThan(before.get('timeline')!)

    // Alice renames it: the title and the list follow.
    await conversation.setTitle('new plans')
    await eventually(() => expect(text(view, 'title')).toBe('new plans'))
    await eventually(() => expect(text(view, 'list')).toBe('new plans'))

    // Alice types, then stops: only the typing line changes.
    const beforeTyping = new Map(renders)
    conversation.setTyping(true)
    await eventually(() => expect(text(view, 'typing')).toBe('alice'))
    conversation.setTyping(false)
    await eventually(() => expect(text(view, 'typing')).toBe(''))
    expect(renders.get('status')).toBe(beforeTyping.get('status'))
    expect(renders.get('timeline')).toBe(beforeTyping.get('timeline'))
  })

  it('shows a conversation created by another user once the inbox lists it', async () => {
    const alice = await connect('alice')
    const bob = await connect('bob')
    // Bob's screen asks for a conversation before it exists anywhere.
    const conversation = await alice.createConversation({ title: 'later', members: ['bob'] })
    function Opened({ id }: { id: string }) {
      const opening = useConversation(id)
      return h('p', { 'data-testid': 'opened' }, opening.state === 'open' ? opening.conversation.title : opening.state)
    }
    const view = render(bob, h(Opened, { id: conversation.id }))
    await eventually(() => expect(text(view, 'opened')).toBe('later'))
  })

  it('reports a conversation that cannot be found as failed, with the client error', async () => {
    const offline = await createClient({ token: await server.token('carol'), storage: { kind: 'memory' } })
    clients.push(offline)
    function Opened() {
      const opening = useConversation('4MZvx8uJ49wBs3K6HnvJN3gNiPZ5')
      return h('p', { 'data-testid': 'opened' }, opening.state === 'failed' ? (opening.error as Error & { code: string }).code : opening.state)
    }
    const view = render(offline, h(Opened))
    await eventually(() => expect(text(view, 'opened')).toBe('PARLEY_ERR_CONVERSATION_NOT_FOUND'))
  })

  it('says which provider is missing when a hook is used outside one', () => {
    function Orphan() {
      useClient()
      return null
    }
    const errors: unknown[] = []
    const root = createRoot(document.createElement('div'), { onUncaughtError: error => void errors.push(error) })
    flushSync(() => root.render(h(Orphan)))
    flushSync(() => root.unmount())
    expect(errors).toEqual([expect.objectContaining({ code: 'PARLEY_ERR_NO_CLIENT', message: expect.stringContaining('<ParleyProvider client={client}>') })])
  })
})
