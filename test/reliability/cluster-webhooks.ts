/**
 * The webhook receiver of the cluster fault tests: a local HTTP server that records every
 * notification the nodes POST (webhooks/attempt.ts) and answers 200. A receiver
 * deduplicates on the notification's `id` (its key, also `X-Parley-Delivery`):
 * `keysByText` says which keys each message arrived under.
 */
import { createServer } from 'node:http'

/** Notification bodies past this are refused (413), not buffered. */
const MAX_BODY = 1 << 20

interface Delivery {
  id: string
  conversationId: string
  seq: number
  event: { id: string; text?: string }
}

export class WebhookReceiver {
  readonly deliveries: Delivery[] = []
  readonly #server = createServer((request, response) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('error', () => response.destroy())
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        response.writeHead(413).end()
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => {
      if (size > MAX_BODY) return
      try {
        this.deliveries.push(JSON.parse(Buffer.concat(chunks).toString()) as Delivery)
        response.writeHead(200).end()
      } catch {
        response.writeHead(400).end()
      }
    })
  })
  #port = 0

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver()
    const server = receiver.#server
    server.on('clientError', (_, socket) => socket.destroy())
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    receiver.#port = (server.address() as { port: number }).port
    return receiver
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`
  }

  /** Per message text, the distinct keys (`id`s) it was delivered under. */
  keysByText(): Map<string, Set<string>> {
    const keys = new Map<string, Set<string>>()
    for (const delivery of this.deliveries) {
      const text = delivery.event.text
      if (text === undefined) continue
      const set = keys.get(text) ?? new Set<string>()
      set.add(delivery.id)
      keys.set(text, set)
    }
    return keys
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise(resolve => this.#server.close(resolve))
  }
}
