/** A WebSocket stand-in the connection tests drive by hand. */
import { cbor } from '@automerge/automerge-repo/slim'

export class FakeSocket {
  static instances: FakeSocket[] = []
  readyState = 0
  binaryType = 'blob' as BinaryType
  sent: unknown[] = []
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: { data: ArrayBuffer }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  onclose: ((event: { code: number; reason: string }) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.instances.push(this)
  }
  send(data: Uint8Array): void {
    this.sent.push(cbor.decode(data))
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code, reason })
  }
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }
  acceptJoin(): void {
    const reply = cbor.encode({ type: 'peer', senderId: 'server', peerMetadata: { storageId: 'store' }, selectedProtocolVersion: '1', targetId: 'me' })
    this.onmessage?.({ data: reply.buffer.slice(reply.byteOffset, reply.byteOffset + reply.byteLength) as ArrayBuffer })
  }
  /** Opens and answers the join. */
  accept(): void {
    this.open()
    this.acceptJoin()
  }
}
