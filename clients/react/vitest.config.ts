import { defineProject } from 'vitest/config'
import { sourceConditions } from '../../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  test: {
    name: '@parley/react',
    // Node, with a DOM from happy-dom registered as globals (test/setup.ts): the client
    // and the in-process server keep Node's WebSocket, LevelDB and Automerge.
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
  },
})
