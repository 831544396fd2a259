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

/** A minimal relay: every frame goes to every other client; nothing is stored. */
export function runRawRelay(port: number): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' })
  wss.on('connection', socket =>
    socket.on('message', (data, isBinary) => {
      for (const other of wss.clients) if (other !== socket) other.send(data, { binary: isBinary })
    }),
  )
  wss.on('listening', () => console.log(`listening on ${port}`))
}
