/**
 * The timeline kept up to date event by event: what `project` returns for the events
 * added so far, without folding them all again. A message is inserted at its place in
 * the total order (usually the end); an edit, delete, reaction or moderation decision re-projects only the
 * message it names. Unchanged items keep their identity from one snapshot to the next,
 * so a view can tell what changed by comparing items.
 *
 * Read receipts (`read` events) change no item: the timeline keeps each reader's newest,
 * in the total order, for `receipts`.
 *
 * The first event added under an ID wins; `project` keeps the first in the total order
 * instead. The two differ only for two different events sharing an ID, which no writer
 * produces (IDs are random).
 */
import type { ParleyEvent, ReadEvent } from './events.ts'
import { compareEvents } from './order.ts'
import { isItem, isModifier, isShown, projectMessage, type ItemEvent, type ModifierEvent, type TimelineItem } from './projection.ts'

export class Timeline {
  readonly #seen = new Set<string>()
  /** Messages in the total order, and their items at the same index. */
  readonly #messages: ItemEvent[] = []
  #items: TimelineItem[] = []
  readonly #byId = new Map<string, { message: ItemEvent; item: TimelineItem }>()
  /** Edits, deletes, reactions and moderation decisions by the ID they name, whether that message is here or not (yet). */
  readonly #modifiers = new Map<string, ModifierEvent[]>()
  /** Each reader's newest read receipt, by author. */
  readonly #receipts = new Map<string, ReadEvent>()
  /** Whether `#items` has been handed out: the next change copies it first. */
  #shared = false

  /** Adds one event; returns whether the timeline changed (a receipt changes no item: `receipts`). */
  add(event: ParleyEvent): boolean {
    if (this.#seen.has(event.id)) return false
    this.#seen.add(event.id)
    if (event.type === 'read') {
      const newest = this.#receipts.get(event.author)
      if (!newest || compareEvents(event, newest) > 0) this.#receipts.set(event.author, event)
      return false
    }
    if (isItem(event)) {
      this.#insert(event)
      return true
    }
    if (!isModifier(event)) return false
    const modifiers = this.#modifiers.get(event.target)
    if (modifiers) insertOrdered(modifiers, event)
    else this.#modifiers.set(event.target, [event])
    const entry = this.#byId.get(event.target)
    if (!entry) return false
    this.#replace(entry.message)
    return true
  }

  /** The timeline, oldest first. The array is never changed afterwards: a change makes a new one. */
  items(): TimelineItem[] {
    this.#shared = true
    return this.#items
  }

  get length(): number {
    return this.#items.length
  }

  /** Each reader's newest read receipt among the events added. */
  receipts(): ReadonlyMap<string, ReadEvent> {
    return this.#receipts
  }

  item(id: string): TimelineItem | undefined {
    return this.#byId.get(id)?.item
  }

  /** The same count as `unreadCount(this.items(), me, cursor)`, in time that grows with the unread messages only. */
  unreadCount(me: string, cursor?: ReadEvent): number {
    const items = this.#items
    let start = 0
    if (cursor) {
      const target = this.#byId.get(cursor.target)
      start = target ? this.#indexOf(target.message) + 1 : this.#firstAfter(cursor.at)
      if (start >= items.length) return 0
    }
    let count = 0
    for (let i = items.length - 1; i >= start; i--) {
      const item = items[i]!
      if (item.author === me) break
      if (isShown(item)) count++
    }
    return count
  }

  /**
   * A handed-out array is copied with the change in one allocation of the new length
   * (toSpliced, with): slice() and then push() allocated it twice, the second time half as
   * large again, some 80 KB per message at 4,000 items loaded (issue 15: the receiving
   * client's largest allocation, and so a cause of its collection pauses).
   */
  #insert(message: ItemEvent): void {
    const item = projectMessage(message, this.#modifiers.get(message.id) ?? [])
    this.#byId.set(message.id, { message, item })
    const last = this.#messages.at(-1)
    const at = !last || compareEvents(message, last) > 0 ? this.#messages.length : this.#indexOf(message)
    if (at === this.#messages.length) this.#messages.push(message)
    else this.#messages.splice(at, 0, message)
    if (this.#shared) {
      this.#items = this.#items.toSpliced(at, 0, item)
      this.#shared = false
    } else if (at === this.#items.length) this.#items.push(item)
    else this.#items.splice(at, 0, item)
  }

  #replace(message: ItemEvent): void {
    const item = projectMessage(message, this.#modifiers.get(message.id)!)
    this.#byId.set(message.id, { message, item })
    const at = this.#indexOf(message)
    if (this.#shared) {
      this.#items = this.#items.with(at, item)
      this.#shared = false
    } else this.#items[at] = item
  }

  /** Where `event` is or would go among the messages: the first index not before it. */
  #indexOf(event: Pick<ItemEvent, 'at' | 'device' | 'id'>): number {
    let low = 0
    let high = this.#messages.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (compareEvents(this.#messages[mid]!, event) < 0) low = mid + 1
      else high = mid
    }
    return low
  }

  /** The index of the first message stamped after `at` (the list's length if none). */
  #firstAfter(at: number): number {
    let low = 0
    let high = this.#messages.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.#messages[mid]!.at <= at) low = mid + 1
      else high = mid
    }
    return low
  }
}

/** Inserts into a list kept in the total order; most events arrive last. */
function insertOrdered(list: ModifierEvent[], event: ModifierEvent): void {
  let i = list.length
  while (i > 0 && compareEvents(list[i - 1]!, event) > 0) i--
  list.splice(i, 0, event)
}
