import { describe, expect, it } from 'vitest'
import { resolveServerOptions } from '../src/config.ts'

describe('resolveServerOptions', () => {
  it('fills the embedded defaults and freezes', () => {
    const options = resolveServerOptions({})
    expect(options).toMatchObject({ host: '127.0.0.1', port: 8787, dataDir: './data', maxFrameBytes: 4 * 1024 * 1024 })
    expect(Object.isFrozen(options)).toBe(true)
  })

  it.each([[{ colour: 'red' }], [{ port: 70_000 }], [{ port: 1.5 }], [{ logLevel: 'loud' }], [{ jwtSecret: 'short' }], [{ maxFrameBytes: 10 }]])('rejects %j', options => {
    expect(() => resolveServerOptions(options as never)).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })

  it('takes the relay core by default on one node and in a cluster sharing PostgreSQL, never with Redis alone', () => {
    const redis = 'redis://127.0.0.1:6379'
    const postgres = 'postgres://parley@127.0.0.1:5432/parley'
    expect(resolveServerOptions({}).relayCore).toBe(true)
    expect(resolveServerOptions({ relayCore: false }).relayCore).toBe(false)
    expect(resolveServerOptions({ postgres }).relayCore).toBe(true)
    // A cluster sharing PostgreSQL: segments over the bus unless turned off (--no-relay-core).
    expect(resolveServerOptions({ redis, postgres }).relayCore).toBe(true)
    expect(resolveServerOptions({ redis, postgres, relayCore: true }).relayCore).toBe(true)
    expect(resolveServerOptions({ redis, postgres, relayCore: false }).relayCore).toBe(false)
    // Redis alone: the repo path, since a node could not reload what it missed; asking for the relay core is refused.
    expect(resolveServerOptions({ redis }).relayCore).toBe(false)
    expect(resolveServerOptions({ redis, relayCore: false }).relayCore).toBe(false)
    expect(() => resolveServerOptions({ relayCore: true, redis })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION', message: expect.stringContaining('cannot be combined with redis') }))
    expect(() => resolveServerOptions({ relayCore: 'yes' as never })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})
