import { defineProject } from 'vitest/config'
import { sourceConditions } from '../../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  test: {
    name: 'reliability',
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Real server processes and measured figures: this project's files run one after another, in one fork.
    poolOptions: { forks: { singleFork: true } },
  },
})
