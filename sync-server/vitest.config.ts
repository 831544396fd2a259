import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: '@parley/sync-server',
    testTimeout: 30_000,
  },
})
