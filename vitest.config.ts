import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: ['core', 'sync-server', 'clients/sdk', 'clients/cli', 'clients/web', 'test', 'test/reliability'],
  },
})
