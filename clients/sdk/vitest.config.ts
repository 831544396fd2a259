import { defineProject } from 'vitest/config'
import { sourceConditions } from '../../vitest.source.ts'

export default defineProject({
  ...sourceConditions,
  test: {
    name: '@parley/client',
  },
})
