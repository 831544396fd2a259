/**
 * Workspace packages export their TypeScript source under the `@parley/source` condition
 * and their build (dist/) to everyone else, so tests run against src/ with no build step
 * before them. Every vitest project spreads this into its config; Node processes the
 * tests start get the condition from NODE_OPTIONS (.npmrc) or their bin.
 */
import { defaultClientConditions, defaultServerConditions } from 'vite'

export const SOURCE_CONDITION = '@parley/source'

export const sourceConditions = {
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
}
