// A tiny browser app built by Vite from the packed tarballs. Automerge's WASM is loaded
// once from a URL before the client is imported (see vite.config.js).
import { initializeWasm } from '@automerge/automerge/slim'
import wasmUrl from '@automerge/automerge/automerge.wasm?url'
import { createElement as h } from 'react'
import { createRoot } from 'react-dom/client'

await initializeWasm(wasmUrl)
const { createClient } = await import('@parley/client')
const { ParleyProvider, useStatus, useTimeline } = await import('@parley/react')

const client = await createClient({ server: `${location.origin.replace(/^http/, 'ws')}/sync`, token: new URLSearchParams(location.search).get('token'), storage: { kind: 'indexeddb' } })
const conversation = await client.createConversation({ title: 'bundled' })
await conversation.send('hello from a bundle')

function App({ id }) {
  const status = useStatus()
  const timeline = useTimeline(id)
  return h('main', null, h('p', null, status), h('ol', null, ...timeline.map(item => h('li', { key: item.id }, item.text))))
}
createRoot(document.getElementById('out')).render(h(ParleyProvider, { client }, h(App, { id: conversation.id })))
