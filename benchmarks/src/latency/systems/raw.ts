/** The floor: a bare `ws` relay, no protocol, nothing stored. */
import { WebSocket, WebSocketServer } from 'ws'
import { workerServer, type System } from './system.ts'

export const rawRelay: System = {
  name: 'raw ws relay',
  serverCommand: workerServer('raw'),
  async client(url) {
    const socket = new WebSocket(url)
    await new Promise(resolve => socket.once('open', resolve))
    return {
      create: async () => 'relay',
      open: async (_id, onText) => void socket.on('message', data => onText(data.toString())),
      send: async text => socket.send(text),
      close: async () => socket.close(),
    }
  },
}

/**
 * A minimal relay: every frame goes to every other client connected on the same URL path
 * (a room: the throughput benchmark's conversations; every other benchmark connects to
 * `/`, one room); nothing is stored.
 */
export function runRawRelay(port: number): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' })
  const rooms = new Map<string, Set<WebSocket>>()
  wss.on('connection', (socket, request) => {
    const path = request.url ?? '/'
    const room = rooms.get(path) ?? new Set<WebSocket>()
    rooms.set(path, room.add(socket))
    socket.on('close', () => room.delete(socket))
    socket.on('message', (data, isBinary) => {
      for (const other of room) if (other !== socket) other.send(data, { binary: isBinary })
    })
  })
  wss.on('listening', () => console.log(`listening on ${port}`))
}
