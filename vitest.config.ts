import { defineConfig } from 'vitest/config'
import { startTestRun } from './test/support/test-run.ts'

// Marks every process this run starts, so the global teardown finds any left running.
startTestRun()

export default defineConfig({
  test: {
    projects: ['core', 'sync-server', 'clients/sdk', 'clients/react', 'clients/cli', 'clients/web', 'test', 'test/reliability'],
    // Fails the run if any server, redis-server, nginx or Chromium it started is still running at the end.
    globalSetup: ['test/support/leftover-processes.ts'],
  },
})
