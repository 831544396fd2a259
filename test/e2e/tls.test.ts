/**
 * `--tls-cert/--tls-key`: the server answers https and wss only, with a certificate made
 * in the test; the terminal client syncs over wss when it trusts that certificate.
 */
import { get } from 'node:https'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { parley } from '../support/cli-process.ts'
import { ServerProcess } from '../support/server-process.ts'

describe('TLS', () => {
  let server: ServerProcess
  let dir: string
  let cert: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-tls-'))
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
    })
    cert = pems.cert
    await writeFile(join(dir, 'cert.pem'), pems.cert)
    await writeFile(join(dir, 'key.pem'), pems.private)
    server = await ServerProcess.start(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')])
  })
  afterAll(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves /healthz over https', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      get(`https://127.0.0.1:${server.port}/healthz`, { ca: cert }, response => {
        let text = ''
        response.on('data', chunk => (text += chunk))
        response.on('end', () => resolve(text))
      }).on('error', reject)
    })
    expect(JSON.parse(body)).toMatchObject({ status: 'ok' })
  })

  it('accepts wss with a token and refuses a client that does not trust the certificate', async () => {
    const token = await server.token('alice')
    const trusted = new WebSocket(`${server.url}/sync?token=${token}`, { ca: cert })
    await new Promise((resolve, reject) => trusted.once('open', resolve).once('error', reject))
    trusted.close()
    const untrusting = new WebSocket(`${server.url}/sync?token=${token}`)
    const error = await new Promise<Error>(resolve => untrusting.once('error', resolve))
    expect(error.message).toMatch(/self.signed|certificate/i)
  })

  it('does not speak plain ws on the TLS port', async () => {
    const plain = new WebSocket(`ws://127.0.0.1:${server.port}/sync?token=${await server.token('alice')}`)
    const outcome = await new Promise<string>(resolve => {
      plain.once('open', () => resolve('open'))
      plain.once('error', () => resolve('error'))
    })
    expect(outcome).toBe('error')
  })

  it('lets two terminal clients exchange a message over wss', async () => {
    const env = { NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') }
    const alice = ['--server', server.url, '--token', await server.token('alice'), '--data', join(dir, 'alice')]
    const bob = ['--server', server.url, '--token', await server.token('bob'), '--data', join(dir, 'bob')]
    const created = await parley([...alice, 'create', '--member', 'bob'], env)
    expect(created.code).toBe(0)
    const id = created.stdout.trim()
    expect((await parley([...alice, 'send', id, 'over tls'], env)).code).toBe(0)
    expect((await parley([...alice, 'sync'], env)).code).toBe(0)
    expect((await parley([...bob, 'sync'], env)).code).toBe(0)
    const history = await parley([...bob, 'history', id, '--json'], env)
    expect(history.stdout).toContain('"text":"over tls"')
  })
})
