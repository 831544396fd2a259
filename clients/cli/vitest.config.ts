import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: '@parley/cli',
    // Each CLI run is a fresh Node process; a test runs several on a 2-core machine.
    testTimeout: 60_000,
  },
})
