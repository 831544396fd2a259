/**
 * A typical push server: Socket.IO rooms, each message relayed to the room's other
 * members. No persistence, no history: a receiver that is offline misses the message.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { io } from 'socket.io-client'
import { workerServer, type System } from './system.ts'

export const socketIo: System = {
  name: 'Socket.IO 4.8.4',
  serverCommand: workerServer('socketio'),
  async client(url) {
    const socket = io(url.replace(/^ws/, 'http'), { transports: ['websocket'], reconnection: false })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('connect_error', reject)
    })
    const join = (room: string) => new Promise<void>(resolve => socket.emit('join', room, () => resolve()))
    return {
      async create() {
        const room = randomUUID()
        await join(room)
        return room
      },
      async open(room, onText) {
        socket.on('message', (text: string) => onText(text))
        await join(room)
      },
      send: async text => void socket.emit('message', text),
      close: async () => void socket.close(),
    }
  },
}

export function runSocketIo(port: number): void {
  const http = createServer()
  const server = new Server(http)
  server.on('connection', socket => {
    let room: string | undefined
    socket.on('join', (name: string, ack: () => void) => {
      room = name
      void socket.join(name)
      ack()
    })
    socket.on('message', (text: string) => {
      if (room) socket.to(room).emit('message', text)
    })
  })
  http.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`))
}
