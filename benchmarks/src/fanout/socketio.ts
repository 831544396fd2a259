/** Socket.IO: every member joins one room; the server broadcasts each message to the room. */
import { randomUUID } from 'node:crypto'
import { io, type Socket } from 'socket.io-client'
import type { FanoutSystem } from './system.ts'

async function joined(url: string, room: string): Promise<Socket> {
  const socket = io(url.replace(/^ws/, 'http'), { transports: ['websocket'], reconnection: false })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  await new Promise<void>(resolve => socket.emit('join', room, () => resolve()))
  return socket
}

export const socketIoFanout: FanoutSystem = {
  server: 'socketio',
  async createGroup({ url }) {
    const room = randomUUID()
    const sender = await joined(url, room)
    return { id: room, send: text => void sender.emit('message', text), close: async () => void sender.close() }
  },
  async join(url, _user, room, onText) {
    const socket = await joined(url, room)
    socket.on('message', (text: string) => onText(text))
    return () => socket.close()
  },
}
