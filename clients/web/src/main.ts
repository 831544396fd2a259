/**
 * Entry point: Automerge's WASM first (everything else calls into it), then the app.
 * The service worker exists only in a build (the dev server has no /sw.js, so registering fails quietly there).
 */
import { initializeWasm } from '@automerge/automerge/slim'
import wasmUrl from '@automerge/automerge/automerge.wasm?url'
import { registerServiceWorker } from './offline/register.ts'
import './styles.css'

await initializeWasm(wasmUrl)
const { mount } = await import('./ui/mount.tsx')
mount(document.getElementById('app')!)
registerServiceWorker()
