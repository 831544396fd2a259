import { defineProject } from 'vitest/config'
import { sourceConditions } from '../../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  test: {
    name: '@parley/cli',
    // Each CLI run is a fresh Node process; a test runs several on a 2-core machine.
    testTimeout: 60_000,
  },
})
