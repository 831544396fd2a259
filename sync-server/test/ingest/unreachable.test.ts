/**
 * A broker that cannot be reached (for --ingest and --publish-events): the server starts
 * and serves all the same, reports `parley_ingest_connected 0`, keeps trying, and closes
 * without waiting for it.
 */
import { describe, expect, it } from 'vitest'
import { freePort } from '../../src/free-port.ts'
import { startTestServer } from '../../src/testing.ts'
import { metric } from './parley.ts'

describe('ingest with its broker unreachable', () => {
  for (const [broker, url] of [
    ['amqp', (port: number) => `amqp://guest:guest@127.0.0.1:${port}/`],
    ['nats', (port: number) => `nats://127.0.0.1:${port}`],
  ] as const) {
    it(`${broker}: the server serves, says it is not connected, and closes`, async () => {
      // A port nothing listens on.
      const dead = url(await freePort())
      const server = await startTestServer({ ingest: dead, publishEvents: dead })
      try {
        expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200)
        expect(await metric(server, 'parley_ingest_connected', { broker })).toBe(0)
        expect((await fetch(`${server.httpUrl}/metrics`).then(response => response.text())).includes(`parley_ingest_lag_messages{broker="${broker}"}`)).toBe(false)
      } finally {
        await server.close()
      }
    })
  }
})
