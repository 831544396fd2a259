// A tiny browser app built by Vite from the packed tarballs. Automerge's WASM is loaded
// once from a URL before the client is imported (see vite.config.js).
import { initializeWasm } from '@automerge/automerge/slim'
import wasmUrl from '@automerge/automerge/automerge.wasm?url'

await initializeWasm(wasmUrl)
const { createClient } = await import('@parley/client')
const client = await createClient({ server: `${location.origin.replace(/^http/, 'ws')}/sync`, token: new URLSearchParams(location.search).get('token'), storage: { kind: 'indexeddb' } })
const conversation = await client.createConversation({ title: 'bundled' })
await conversation.send('hello from a bundle')
conversation.subscribe(timeline => (document.getElementById('out').textContent = JSON.stringify(timeline)))
