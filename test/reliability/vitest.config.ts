import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'reliability',
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Real server processes and measured figures: this project's files run one after another, in one fork.
    poolOptions: { forks: { singleFork: true } },
  },
})
