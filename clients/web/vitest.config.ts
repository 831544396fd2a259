import { defineProject } from 'vitest/config'
import { sourceConditions } from '../../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  // As in vite.config.ts: @parley/react's hooks run on Preact through its compat layer.
  resolve: { ...sourceConditions.resolve, alias: [{ find: /^react(-dom)?$/, replacement: 'preact/compat' }] },
  test: {
    name: '@parley/web',
    include: ['test/**/*.test.ts'],
    // Builds the app once; every file then starts its own server process and Chromium.
    globalSetup: ['test/browser/support/build-app.ts'],
    // One file at a time: each drives a real browser and a real server on a 2-core machine.
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
})
