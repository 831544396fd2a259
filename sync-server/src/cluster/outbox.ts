/**
 * Groups the messages the repo sent in one tick: the same message (type, document and
 * bytes) for several nodes becomes one group with several targets, so that it can be
 * published once. Each target still gets its messages in the order the repo sent them:
 * a message joins an earlier group only if its target has nothing in a later one.
 */
import type { Message, PeerId } from '@automerge/automerge-repo'

export interface Group {
  message: Message
  targets: PeerId[]
}

type Fields = { documentId?: string; data?: Uint8Array; sessionId?: string; count?: number }

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true
  if (!a || !b || a.byteLength !== b.byteLength) return false
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

/** Whether two messages differ only in their target (and, for ephemeral ones, their counter). */
function sameContent(a: Message, b: Message): boolean {
  const x = a as Message & Fields
  const y = b as Message & Fields
  if (x.type !== y.type || x.documentId === undefined || x.documentId !== y.documentId || x.senderId !== y.senderId) return false
  if (x.type !== 'sync' && x.type !== 'ephemeral') return false
  if (x.type === 'ephemeral' && x.sessionId !== y.sessionId) return false
  return sameBytes(x.data, y.data)
}

export function groupIdentical(batch: Message[]): Group[] {
  const groups: Group[] = []
  /** Per target, the index of the last group it is in. */
  const last = new Map<PeerId, number>()
  for (const message of batch) {
    const target = message.targetId
    const after = last.get(target) ?? -1
    let index = -1
    for (let i = groups.length - 1; i > after; i--) {
      if (sameContent(groups[i]!.message, message)) {
        index = i
        break
      }
    }
    if (index === -1) {
      groups.push({ message, targets: [target] })
      index = groups.length - 1
    } else {
      const group = groups[index]!
      group.targets.push(target)
      // An ephemeral message's counter only has to grow per receiver: the group carries the highest.
      const count = (message as Fields).count
      if (count !== undefined && count > ((group.message as Fields).count ?? 0)) group.message = { ...group.message, count } as Message
    }
    last.set(target, index)
  }
  return groups
}
