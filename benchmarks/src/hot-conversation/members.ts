/**
 * Members that both receive and send, for the hot-conversation benchmark: the fanout
 * benchmark's members (same sockets, same documents) plus a `send`. Each member ignores
 * its own messages; `onText` gets every other member's messages (Parley: re-reads after a
 * local append may repeat some, the worker drops repeats by sender and sequence number).
 */
import type { Doc } from '@automerge/automerge'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { appendEvent, documentType, DocumentTypes, eventId, readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { io } from 'socket.io-client'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { AutomergePeer } from '../fanout/automerge-peer.ts'
import { opened, SECRET } from '../fanout/system.ts'

export type HotKey = 'raw' | 'socketio' | 'hocuspocus' | 'parley'

export interface HotMember {
  send(text: string): void
  close(): void
}

/** Events re-read behind the last seen length after a local append (a concurrent remote event may sort before ours). */
const LOOKBACK = 32

async function raw(url: string, onText: (text: string) => void): Promise<HotMember> {
  const socket = new WebSocket(url)
  await opened(socket)
  socket.on('message', data => onText(data.toString()))
  return { send: text => socket.send(text), close: () => socket.terminate() }
}

async function socketio(url: string, room: string, onText: (text: string) => void): Promise<HotMember> {
  const socket = io(url.replace(/^ws/, 'http'), { transports: ['websocket'], reconnection: false })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  await new Promise<void>(resolve => socket.emit('join', room, () => resolve()))
  socket.on('message', (text: string) => onText(text))
  return { send: text => void socket.emit('message', text), close: () => void socket.close() }
}

async function hocuspocus(url: string, name: string, onText: (text: string) => void): Promise<HotMember> {
  const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket, messageReconnectTimeout: 3_600_000 })
  await new Promise<void>(resolve => socket.on('open', () => resolve()))
  const document = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document, awareness: null, broadcast: false, quiet: true })
  await new Promise<void>(resolve => provider.on('synced', () => resolve()))
  const messages = document.getArray<string>('messages')
  messages.observe(event => {
    if (event.transaction.local) return
    for (const item of event.changes.added) for (const text of item.content.getContent()) if (typeof text === 'string') onText(text)
  })
  return {
    send: text => messages.push([text]),
    close: () => {
      provider.destroy()
      socket.destroy()
    },
  }
}

async function parley(url: string, user: string, segmentId: string, onText: (text: string) => void): Promise<HotMember> {
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(new TextEncoder().encode(SECRET))
  const peer = await AutomergePeer.connect<SegmentDoc>(`${url}?token=${token}`, `${user}-${randomUUID()}`, segmentId)
  peer.start()
  await peer.until(() => documentType(peer.doc) === DocumentTypes.segment, 'the segment')
  let seen = segmentLength(peer.doc)
  let appended = false
  peer.onSync = (doc: Doc<SegmentDoc>) => {
    const length = segmentLength(doc)
    if (length === seen) return
    const from = appended ? Math.max(0, seen - LOOKBACK) : seen
    appended = false
    const { events } = readSegmentEvents(doc, from)
    seen = length
    for (const event of events) {
      if (event.type !== 'message' || event.author === user) continue
      onText(event.text)
    }
  }
  return {
    send: text => {
      appended = true
      peer.change(doc => appendEvent(doc, { id: eventId(user), type: 'message', author: user, device: 'hot-member', at: Date.now(), text }))
    },
    close: () => peer.close(),
  }
}

export function joinMember(key: HotKey, url: string, user: string, group: string, onText: (text: string) => void): Promise<HotMember> {
  switch (key) {
    case 'raw':
      return raw(url, onText)
    case 'socketio':
      return socketio(url, group, onText)
    case 'hocuspocus':
      return hocuspocus(url, group, onText)
    case 'parley':
      return parley(url, user, group, onText)
  }
}
