// @parley/react from its tarball, in plain Node: a component rendered to a string.
// Usage: node react-main.js TOKEN
import { createClient } from '@parley/client'
import { ParleyProvider, useStatus } from '@parley/react'
import { createElement as h } from 'react'
import { renderToString } from 'react-dom/server'

const client = await createClient({ token: process.argv[2], storage: { kind: 'memory' } })
function Status() {
  return h('p', null, `status: ${useStatus()}`)
}
console.log(renderToString(h(ParleyProvider, { client }, h(Status))))
await client.close()
