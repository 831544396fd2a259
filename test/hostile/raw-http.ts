/**
 * HTTP/1.1 spoken by hand over TCP, to send what fetch refuses to: garbage, broken
 * framing, oversized headers, hand-made WebSocket upgrades.
 */
import { connect } from 'node:net'

export interface RawResponse {
  /** Undefined when the server sent nothing parseable. */
  status: number | undefined
  headers: Record<string, string>
  body: string
  /** The server ended the connection (rather than us giving up waiting). */
  closedByServer: boolean
}

/** Sends `request` and collects the answer until the server hangs up or `timeoutMs` passes. */
export function rawRequest(port: number, request: string | Uint8Array, timeoutMs = 3_000): Promise<RawResponse> {
  return new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let closedByServer = false
    const finish = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(parse(Buffer.concat(chunks).toString('latin1'), closedByServer))
    }
    const timer = setTimeout(finish, timeoutMs)
    socket.on('data', chunk => chunks.push(chunk))
    socket.on('end', () => {
      closedByServer = true
      finish()
    })
    // A reset after the server's answer still counts as the server hanging up.
    socket.on('error', () => {
      closedByServer = true
      finish()
    })
    socket.write(request)
  })
}

function parse(text: string, closedByServer: boolean): RawResponse {
  const [head = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]
  const headers = Object.fromEntries(
    headerLines.map(line => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  )
  return { status: status === undefined ? undefined : Number(status), headers, body: rest.join('\r\n\r\n'), closedByServer }
}

/** A request with the given extra header lines and body; asks the server to close afterwards. */
export function httpRequest(method: string, path: string, headers: string[] = [], body = ''): string {
  const length = body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...length, ...headers, '', body].join('\r\n')
}

/**
 * A WebSocket upgrade request with RFC 6455's handshake headers; `headers` adds to or
 * replaces them (undefined removes one), to break the handshake on purpose.
 */
export function upgradeRequest(path: string, headers: Record<string, string | undefined> = {}, method = 'GET'): string {
  const all: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    ...headers,
  }
  const lines = Object.entries(all).flatMap(([name, value]) => (value === undefined ? [] : [`${name}: ${value}`]))
  return [`${method} ${path} HTTP/1.1`, ...lines, '', ''].join('\r\n')
}
