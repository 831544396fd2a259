#!/usr/bin/env node
// Runs the TypeScript source directly (tsx), so no build step stands before use.
import { register as registerHooks } from 'node:module'
import { register } from 'tsx/esm/api'

register()
// Workspace packages (@parley/core, @parley/client) resolve to their source, not to a build.
registerHooks('data:text/javascript,export const resolve = (s, c, next) => next(s, { ...c, conditions: [...c.conditions, "@parley/source"] })')
const { run } = await import('../src/cli.ts')
await run(process.argv.slice(2))
