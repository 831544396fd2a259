#!/usr/bin/env node
// Runs the TypeScript source directly (tsx), so no build step stands before use.
import { register } from 'tsx/esm/api'

register()
const { run } = await import('../src/main.ts')
await run(process.argv.slice(2))
