import { defineProject } from 'vitest/config'
import { sourceConditions } from '../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  test: {
    name: 'e2e',
    // The fault suite is its own project (test/reliability/vitest.config.ts); the soak runs by itself (npm run soak).
    exclude: ['**/node_modules/**', 'reliability/**', 'soak/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
})
