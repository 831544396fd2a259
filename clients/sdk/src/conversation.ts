/**
 * One conversation as a client sees it: the head document, the loaded part of the log,
 * and the timeline projected from it. Writes append immutable events to the newest
 * segment and resolve once stored locally; the repo syncs them whenever it can.
 *
 * Read receipts are `read` events in the segments, like any other event: they cost the
 * server what a message costs and go where the segments go, and a segment's history ends
 * when it fills. Clients before 2026-12-07 moved a cursor in the head instead, where every
 * move stayed in the head's history for good (docs/architecture.md, "Read receipts");
 * those cursors still count, each reader's newest receipt wins.
 */
import type { DocHandle } from '@automerge/automerge-repo/slim'
import {
  addMember,
  addSegment,
  appendEvent,
  compareEvents,
  eventId,
  initSegment,
  isItem,
  readHead,
  removeMember,
  setTitle,
  validateEvent,
  type EventBody,
  type Head,
  type HeadDoc,
  type ParleyEvent,
  type Priority,
  type ReadEvent,
  type Role,
  type SegmentDoc,
  type TimelineItem,
} from '@parley/core'
import { EventEmitter } from 'eventemitter3'
import type { ClientContext } from './context.ts'
import { ClientErrorCodes, ParleyError } from './errors.ts'
import { EventLog } from './event-log.ts'
import type { FileInput, UploadState } from './attachments/index.ts'
import { sha256Hex } from './attachments/index.ts'
import { ReadCursor, receiptInterval } from './read-cursor.ts'
import { TypingTracker } from './typing.ts'

export type TimelineListener = (timeline: TimelineItem[]) => void

interface ConversationEvents {
  typing: (users: string[]) => void
  head: (head: Head) => void
}

export class Conversation extends EventEmitter<ConversationEvents> {
  readonly id: string
  readonly #ctx: ClientContext
  readonly #head: DocHandle<HeadDoc>
  readonly #log: EventLog
  readonly #typing: TypingTracker
  readonly #readCursor: ReadCursor
  /** This device's newest move of its read cursor, shown before its write is stored and read back. */
  #moved: ReadEvent | undefined
  readonly #subscribers = new Set<TimelineListener>()
  #notifyScheduled = false
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(ctx: ClientContext, head: DocHandle<HeadDoc>) {
    super()
    this.id = head.documentId
    this.#ctx = ctx
    this.#head = head
    this.#log = new EventLog(ctx, events => {
      for (const event of events) if (isItem(event) && event.author !== ctx.user) this.#typing.stopped(event.author)
      if (events.some(event => event.type === 'read')) this.emit('head', this.head())
      this.#changed()
    })
    this.#typing = new TypingTracker(head as DocHandle<unknown>, ctx.user, users => this.emit('typing', users))
    const members = () => Object.keys(this.#head.doc()?.members ?? {}).length
    this.#readCursor = new ReadCursor(() => receiptInterval(ctx.readCursorIntervalMs, members()), async receipt => void (await this.#write(receipt)))
    head.on('change', this.#onHeadChange)
  }

  /** Opens a conversation whose head is ready, loading its newest page. */
  static async open(ctx: ClientContext, head: DocHandle<HeadDoc>, firstSegment?: DocHandle<SegmentDoc>): Promise<Conversation> {
    const conversation = new Conversation(ctx, head)
    if (firstSegment) conversation.#log.attach(firstSegment)
    else await conversation.#log.loadNewest(conversation.#segments(), ctx.pageSize)
    return conversation
  }

  /** Title, members, segments, and each member's newest read receipt (readReceipts). */
  head(): Head {
    const head = readHead(this.#head.doc())
    return { ...head, reads: this.#newestReceipts(head.reads) }
  }

  get title(): string {
    return this.head().title
  }

  /**
   * The loaded timeline, oldest first. Kept up to date per event (core timeline.ts): a
   * change gives a new array in which only the items it touched are new objects.
   */
  timeline(): TimelineItem[] {
    return this.#log.timeline.items()
  }

  /** Calls `listener` with the timeline now and after every change; returns the unsubscribe function. */
  subscribe(listener: TimelineListener): () => void {
    this.#subscribers.add(listener)
    listener(this.timeline())
    return () => this.#subscribers.delete(listener)
  }

  unreadCount(): number {
    return this.#log.timeline.unreadCount(this.#ctx.user, this.readReceipts()[this.#ctx.user])
  }

  /**
   * Each member's newest read receipt, in the events' total order: from the loaded
   * segments, a cursor in the head (written by clients before receipts were events), and
   * this device's own move before its write is stored (read-cursor.ts).
   */
  readReceipts(): Record<string, ReadEvent> {
    return this.#newestReceipts(readHead(this.#head.doc()).reads)
  }

  hasOlder(): boolean {
    return this.#log.hasOlder(this.#segments())
  }

  /** Pages older segments in; resolves with how many messages were added. */
  loadOlder(count = this.#ctx.pageSize): Promise<number> {
    return this.#log.loadOlder(this.#segments(), count)
  }

  /**
   * Sends a message; resolves with its ID once it is saved on this device. `onId` gets the
   * ID at once, before the save: an app that tracks unsent messages records it there, so a
   * reload between the two cannot lose track of the message.
   */
  async send(text: string, options: { priority?: Priority; onId?: (id: string) => void } = {}): Promise<string> {
    const body: EventBody = options.priority ? { type: 'message', text, priority: options.priority } : { type: 'message', text }
    // The message ends this user's typing: the others learn it from the message (typing.ts).
    this.#typing.sent()
    return (await this.#append(body, undefined, options.onId)).id
  }

  /**
   * Sends a file (docs/attachments.md): resolves with its event's ID once the file and the
   * event are stored on this device. The upload goes out when the client is online and
   * resumes after a disconnect; until the server has the file, `uploadState` tells its
   * author how far it got. `image` carries an image's size and a small preview data URL.
   */
  async sendFile(file: FileInput, image?: { width: number; height: number; preview?: string }): Promise<string> {
    const attachments = this.#ctx.attachments
    if (!attachments) throw new ParleyError(ClientErrorCodes.CLIENT_CLOSED, 'the client is closed')
    const body: EventBody = { type: 'attachment', hash: await sha256Hex(file.bytes), name: file.name, size: file.bytes.byteLength, mime: file.type ?? 'application/octet-stream', ...image }
    // Refused here, before the file is stored, if the event would be invalid.
    this.#stamp(body)
    this.#typing.sent()
    await attachments.store(file)
    return (await this.#append(body)).id
  }

  /** How the upload of a file this device sent is going; undefined for others' files and for uploads done in an earlier session. */
  uploadState(id: string): UploadState | undefined {
    const attachment = this.#log.timeline.item(id)?.attachment
    return attachment && this.#ctx.attachments?.uploads.state(attachment.hash)
  }

  /** The bytes of the file an attachment names: from this device, or fetched from the server and cached. */
  file(id: string): Promise<Uint8Array> {
    const attachment = this.#message(id).attachment
    if (!attachment) throw new ParleyError(ClientErrorCodes.MESSAGE_NOT_FOUND, `item ${id} is not an attachment`)
    if (!this.#ctx.attachments) throw new ParleyError(ClientErrorCodes.CLIENT_CLOSED, 'the client is closed')
    return this.#ctx.attachments.file(attachment.hash, this.id)
  }

  async edit(id: string, text: string): Promise<void> {
    this.#ownMessage(id)
    await this.#append({ type: 'edit', target: id, text })
  }

  async delete(id: string): Promise<void> {
    this.#ownMessage(id)
    await this.#append({ type: 'delete', target: id })
  }

  async react(id: string, emoji: string, options: { remove?: boolean } = {}): Promise<void> {
    this.#message(id)
    await this.#append(options.remove ? { type: 'reaction', target: id, emoji, remove: true } : { type: 'reaction', target: id, emoji })
  }

  /**
   * Moves this user's read cursor to `id` (default: the newest message). This device
   * counts from it at once; its `read` event is written at once, or, within
   * `readCursorIntervalMs` of the last write, with the interval's last move
   * (read-cursor.ts). Resolves once stored.
   */
  async markRead(id?: string): Promise<void> {
    const target = id ?? this.timeline().at(-1)?.id
    if (!target) return
    const receipt = this.#stamp({ type: 'read', target }) as ReadEvent
    const moved = this.#readCursor.move(receipt)
    this.#moved = receipt
    // Subscribers hear of it now, whenever it is written (their unread count moves); 'head'
    // listeners once it is (its event read back from the segment), as the other members do.
    this.#changed()
    await moved
  }

  async addMember(user: string, role: Role = 'member'): Promise<void> {
    await this.#append({ type: 'member-added', member: user, role }, (doc, event) => addMember(doc, user, role, event.author, event.at))
  }

  async removeMember(user: string): Promise<void> {
    await this.#append({ type: 'member-removed', member: user }, doc => removeMember(doc, user))
  }

  async setTitle(title: string): Promise<void> {
    await this.#append({ type: 'title-changed', title }, doc => setTitle(doc, title))
  }

  setTyping(typing: boolean): void {
    this.#typing.set(typing)
  }

  typingUsers(): string[] {
    return this.#typing.users
  }

  /** The priority of the newest message: how urgently this conversation syncs after a reconnect. */
  latestPriority(): Priority {
    return this.#log.latest?.priority ?? 'normal'
  }

  /** Segments the head lists, within the loaded range, that are not here yet (their writer has not uploaded them). */
  missingSegments(): string[] {
    return this.#log.missing(this.#segments())
  }

  /** Asks again for segments the head lists that are not here yet. */
  retryMissingSegments(): Promise<void> {
    return this.#log.retryMissing(this.#segments())
  }

  /** The documents this conversation lives in: its head and the segments it lists. */
  documentIds(): string[] {
    return [this.id, ...this.#segments()]
  }

  /**
   * Stops listening to the documents; the client closes every conversation it opened.
   * Resolves once a move of the read cursor still waiting is written (the client saves
   * everything as it closes).
   */
  async close(): Promise<void> {
    const flushed = this.#readCursor.flush().catch(() => undefined)
    this.#head.off('change', this.#onHeadChange)
    this.#typing.close()
    this.#log.close()
    this.#subscribers.clear()
    this.removeAllListeners()
    await flushed
  }

  #message(id: string): TimelineItem {
    const item = this.#log.timeline.item(id)
    if (!item) throw new ParleyError(ClientErrorCodes.MESSAGE_NOT_FOUND, `no loaded message ${id} in conversation ${this.id}`)
    return item
  }

  #ownMessage(id: string): void {
    if (this.#message(id).author !== this.#ctx.user) {
      throw new ParleyError(ClientErrorCodes.NOT_AUTHOR, `only the author may edit or delete message ${id}`)
    }
  }

  /** Stamps and validates an event; throws before anything is stored if it is invalid. */
  #stamp(body: EventBody): ParleyEvent {
    const { user, device, clock, limits } = this.#ctx
    return validateEvent({ ...body, id: eventId(user), author: user, device, at: clock.tick() }, limits)
  }

  /**
   * Appends one event, and applies `changeHead` to the head for events that change it
   * (membership, title). Writes are queued so two sends never both start a segment.
   */
  #append(body: EventBody, changeHead?: (doc: HeadDoc, event: ParleyEvent) => void, onId?: (id: string) => void): Promise<ParleyEvent> {
    const event = this.#stamp(body)
    onId?.(event.id)
    return this.#write(event, changeHead)
  }

  /** Appends an event stamped already, after the writes before it. */
  #write(event: ParleyEvent, changeHead?: (doc: HeadDoc, event: ParleyEvent) => void): Promise<ParleyEvent> {
    const write = this.#writes.then(async () => {
      if (changeHead) this.#head.change(doc => changeHead(doc, event))
      const { segment, created } = await this.#writableSegment()
      this.#log.append(segment, event, doc => appendEvent(doc, event))
      await this.#ctx.persist([segment, ...created, ...(changeHead ? [this.#head] : [])])
      return event
    })
    this.#writes = write.catch(() => undefined)
    return write
  }

  async #writableSegment(): Promise<{ segment: DocHandle<SegmentDoc>; created: DocHandle<unknown>[] }> {
    const newest = this.#segments().at(-1)
    const segment = newest === undefined ? undefined : await this.#log.load(newest)
    if (segment && !this.#log.isFull(segment.documentId, this.#ctx.segmentSize)) return { segment, created: [] }
    // The newest segment is full (or not available here): start the next one. A writer
    // elsewhere may do the same at the same time; both segments are valid.
    const next = this.#ctx.repo.create<SegmentDoc>()
    next.change(doc => initSegment(doc, this.id))
    this.#log.attach(next)
    this.#head.change(doc => addSegment(doc, next.documentId))
    return { segment: next, created: [next, this.#head] }
  }

  /** Notifies subscribers once per tick; after a head change with the same timeline, which is not rebuilt. */
  #changed(): void {
    if (this.#notifyScheduled || this.#subscribers.size === 0) return
    this.#notifyScheduled = true
    queueMicrotask(() => {
      this.#notifyScheduled = false
      const timeline = this.timeline()
      for (const listener of this.#subscribers) listener(timeline)
    })
  }

  /** `reads` (the head's cursors) with each reader's newer receipt from the segments or this device's move put in. */
  #newestReceipts(reads: Record<string, ReadEvent>): Record<string, ReadEvent> {
    const newer = (receipt: ReadEvent): void => {
      const known = reads[receipt.author]
      if (!known || compareEvents(receipt, known) > 0) reads[receipt.author] = receipt
    }
    for (const receipt of this.#log.timeline.receipts().values()) newer(receipt)
    if (this.#moved) newer(this.#moved)
    return reads
  }

  /** The segment IDs the head lists, oldest first. */
  #segments(): string[] {
    return readHead(this.#head.doc()).segments
  }

  readonly #onHeadChange = (): void => {
    const head = this.head()
    this.emit('head', head)
    this.#changed()
    // Someone started a newer segment: follow it.
    void this.#log.loadNewest(head.segments, 0)
  }
}
