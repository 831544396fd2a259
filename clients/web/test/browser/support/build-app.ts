/**
 * Vitest global setup for the browser tests: builds the web app (as `npm start` does), so
 * the server under test serves exactly what a person would get. No build step stands
 * before `npm test`.
 */
import { fileURLToPath } from 'node:url'
import { build } from 'vite'

export default async function buildApp(): Promise<void> {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  // Vitest sets NODE_ENV=test, which would make this a development build.
  const nodeEnv = process.env.NODE_ENV
  process.env.NODE_ENV = 'production'
  try {
    await build({ root, mode: 'production', logLevel: 'warn', configFile: `${root}vite.config.ts` })
  } finally {
    process.env.NODE_ENV = nodeEnv
  }
}
