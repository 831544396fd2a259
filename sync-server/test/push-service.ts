/**
 * A push service for the Web Push tests: a real HTTPS server on 127.0.0.1 (a self-signed
 * certificate made by openssl for the test, trusted through the agent handed to the
 * server) that checks each request's VAPID signature (RFC 8292) and decrypts its payload
 * with the subscription's own private key and auth secret (RFC 8291, aes128gcm, by the
 * http_ece package), as a browser's push service and the browser would.
 */
import { createECDH, randomBytes, type ECDH } from 'node:crypto'
import { Agent, createServer, type Server } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import ece from 'http_ece'
import { importJWK, jwtVerify, type JWTPayload } from 'jose'
import { selfSignedCertificate } from './fixtures/certificate.ts'

export interface PushRequest {
  device: string
  headers: IncomingHttpHeaders
  /** The decrypted payload, parsed. */
  payload: Record<string, unknown>
  /** The VAPID JWT's claims (verified) and the key it names (`k`). */
  vapid: { claims: JWTPayload; publicKey: string }
}

/** What the service answers a device's n-th push (0-based): a status, or 'hang' to never answer. */
export type Answer = (device: string, index: number) => number | 'hang'

interface Device { ecdh: ECDH; auth: Buffer }

export class PushService {
  readonly received: PushRequest[] = []
  /** Requests refused before decryption (bad VAPID, bad encryption), with why. */
  readonly refused: string[] = []
  readonly agent: Agent
  answer: Answer = () => 201
  readonly #server: Server
  readonly #devices = new Map<string, Device>()
  readonly #counts = new Map<string, number>()
  readonly #waiters: (() => void)[] = []
  #origin = ''

  private constructor(server: Server, agent: Agent) {
    this.#server = server
    this.agent = agent
    server.on('request', (request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        void this.#take(request.url ?? '', request.headers, Buffer.concat(chunks)).then(status => status !== 'hang' && response.writeHead(status).end())
      })
    })
  }

  static async start(): Promise<PushService> {
    const { key, cert } = await selfSignedCertificate()
    const server = createServer({ key, cert })
    const service = new PushService(server, new Agent({ ca: cert }))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    service.#origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    return service
  }

  /** A new device's subscription, as PushSubscription.toJSON() gives it. */
  subscribe(device: string): { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } } {
    const ecdh = createECDH('prime256v1')
    ecdh.generateKeys()
    const auth = randomBytes(16)
    this.#devices.set(device, { ecdh, auth })
    return { endpoint: `${this.#origin}/push/${device}`, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } }
  }

  /** Resolves once `count` pushes were decrypted. */
  async waitFor(count: number): Promise<PushRequest[]> {
    while (this.received.length < count) await new Promise<void>(resolve => this.#waiters.push(resolve))
    return this.received
  }

  /** Resolves once a request for `device` got its `index`-th answer (counting refusals and failures). */
  async waitForAnswers(device: string, count: number): Promise<void> {
    while ((this.#counts.get(device) ?? 0) < count) await new Promise<void>(resolve => this.#waiters.push(resolve))
  }

  async close(): Promise<void> {
    this.agent.destroy()
    this.#server.closeAllConnections()
    await new Promise(resolve => this.#server.close(resolve))
  }

  async #take(url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<number | 'hang'> {
    const device = /^\/push\/([\w-]+)$/.exec(url)?.[1] ?? ''
    const index = this.#counts.get(device) ?? 0
    try {
      const known = this.#devices.get(device)
      if (!known) return 404
      const vapid = await this.#verifyVapid(headers)
      if (headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${headers['content-encoding']}`)
      const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: known.ecdh, authSecret: known.auth })
      const status = this.answer(device, index)
      if (status !== 'hang' && status < 300) this.received.push({ device, headers, payload: JSON.parse(plain.toString('utf8')), vapid })
      return status
    } catch (error) {
      this.refused.push(`${device}: ${(error as Error).message}`)
      return 400
    } finally {
      this.#counts.set(device, index + 1)
      for (const wake of this.#waiters.splice(0)) wake()
    }
  }

  async #verifyVapid(headers: IncomingHttpHeaders): Promise<PushRequest['vapid']> {
    const match = /^vapid t=([\w.-]+), k=([\w-]+)$/.exec(headers.authorization ?? '')
    if (!match) throw new Error(`no VAPID authorization: ${headers.authorization}`)
    const [, token, publicKey] = match as unknown as [string, string, string]
    const point = Buffer.from(publicKey, 'base64url')
    const key = await importJWK({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') }, 'ES256')
    const { payload } = await jwtVerify(token, key, { audience: this.#origin })
    return { claims: payload, publicKey }
  }
}
