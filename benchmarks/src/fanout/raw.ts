/** The floor: the raw ws relay forwards each frame to every other client; the group is everyone connected. */
import { WebSocket } from 'ws'
import { opened, type FanoutSystem } from './system.ts'

export const rawFanout: FanoutSystem = {
  server: 'raw',
  async createGroup({ url }) {
    const sender = new WebSocket(url)
    await opened(sender)
    return { id: 'everyone', send: text => sender.send(text), close: async () => sender.terminate() }
  },
  async join(url, _user, _group, onText) {
    const socket = new WebSocket(url)
    await opened(socket)
    socket.on('message', data => onText(data.toString()))
    return () => socket.terminate()
  },
}
