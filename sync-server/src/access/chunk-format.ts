/**
 * What decoding an Automerge chunk would cost, read from its layout alone before any
 * WASM call sees it (Automerge binary format: https://automerge.org/automerge-binary-format-spec/).
 * Automerge's decoders are synchronous and their cost follows how many rows the columns
 * decode to and how many bytes they inflate to, not the chunk's size: run-length
 * encoding lets a few bytes say "a million inserts", and DEFLATE expands up to ~1,000×.
 * A 1,169-byte saved document holding one million one-character inserts kept the
 * server's event loop busy for 16 s (docs/security.md).
 *
 * Layouts read here:
 * - change body (type 1; type 2 is the same body deflated): deps (count, 32-byte hashes),
 *   actor, seq, startOp, time, message, other actors, column metadata (count, then
 *   spec and length pairs), column data, extra bytes;
 * - document body (type 0): actors, heads, change column metadata, op column metadata,
 *   change column data, op column data, head indexes.
 * A column spec's low 3 bits are its type, bit 3 says the column is deflated.
 */
import { inflateRawSync } from 'node:zlib'

/**
 * `malformed`: Automerge would refuse it too (or panic); `too-large`: beyond the budget; `forbidden`: ops Parley never writes;
 * `rate-limited`: within the budget, but its sender may not spend that much decoding now (chunks.ts `decodeChanges`).
 */
export type ChunkErrorKind = 'malformed' | 'too-large' | 'forbidden' | 'rate-limited'

export class ChunkError extends Error {
  readonly kind: ChunkErrorKind
  constructor(message: string, kind: ChunkErrorKind = 'malformed') {
    super(message)
    this.kind = kind
  }
}

/** What a sync message's chunks may decode to, together; decremented as chunks are measured. */
export interface DecodeBudget {
  /** Rows: the largest column of each chunk (ops of a change, ops or changes of a document), summed. */
  rows: number
  /** Bytes of column data once inflated, summed. */
  bytes: number
  /** Op actions allowed (Automerge's codes: 0 makeMap, 1 set, 2 makeList, 3 del, 4 makeText, 5 inc, 6 makeTable, 7 mark). */
  actions?: readonly number[]
}

/**
 * Per sync message from a client. 4,096 rows hold a new conversation head of 1,000
 * members (4 ops each, the most the REST API creates) or a new segment of 1,000 events
 * four times over; 4 MiB hold a full segment (Limits.maxSegmentBytes, 2 MiB) twice
 * over. Parley documents hold maps, lists and scalars only (core/src/scalar.ts): text
 * (one op per character, the costliest to apply), counters, tables and marks are refused.
 */
export const DECODE_BUDGET: Readonly<DecodeBudget> = Object.freeze({ rows: 4_096, bytes: 4 * 1024 * 1024, actions: Object.freeze([0, 1, 2, 3]) })

const ACTION_NAMES = ['makeMap', 'set', 'makeList', 'del', 'makeText', 'inc', 'makeTable', 'mark']
/** The action column of a change's or document's ops: column 4, uLEB type. */
const ACTION_COLUMN = (4 << 4) | 2

const ColumnType = { group: 0, actor: 1, uleb: 2, delta: 3, boolean: 4, string: 5, valueMeta: 6, valueRaw: 7 } as const
const DEFLATED = 0x08

/** A cursor over untrusted bytes: every read is checked against the end. */
export class Reader {
  readonly #bytes: Uint8Array
  #offset: number

  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes
    this.#offset = offset
  }

  get offset(): number {
    return this.#offset
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset
  }

  /**
   * Unsigned LEB128, at most 2^53 - 1. `canonical`: refuse a padded encoding (a last byte
   * of 0 after the first), as Automerge's own parser does for sync messages.
   */
  uleb(canonical = false): number {
    let value = 0
    let scale = 1
    for (;;) {
      if (this.#offset >= this.#bytes.length) throw new ChunkError('truncated number')
      const byte = this.#bytes[this.#offset++]!
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (canonical && byte === 0 && scale > 1) throw new ChunkError('padded (overlong) number')
        break
      }
      scale *= 128
      if (scale > 2 ** 49) throw new ChunkError('number too large')
    }
    if (!Number.isSafeInteger(value)) throw new ChunkError('number too large')
    return value
  }

  /** Signed LEB128, within ±2^53. `canonical`: refuse a last byte that only repeats the sign. */
  sleb(canonical = false): number {
    const start = this.#offset
    let value = 0
    let scale = 1
    let previous = -1
    for (;;) {
      if (this.#offset >= this.#bytes.length) throw new ChunkError('truncated number')
      const byte = this.#bytes[this.#offset++]!
      value += (byte & 0x7f) * scale
      scale *= 128
      if ((byte & 0x80) === 0) {
        if (canonical && previous >= 0 && (byte === 0 ? (previous & 0x40) === 0 : byte === 0x7f && (previous & 0x40) !== 0)) throw new ChunkError('padded (overlong) number')
        // Eight bytes: the sum passed 2^53 on its way, where doubles drop low bits.
        if (scale > 2 ** 53) return this.#exactSleb(start)
        return byte & 0x40 ? value - scale : value
      }
      previous = byte
      if (scale > 2 ** 49) throw new ChunkError('number too large')
    }
  }

  /** The signed LEB128 at `start` again, in BigInt, refused beyond ±2^53. */
  #exactSleb(start: number): number {
    let value = 0n
    let shift = 0n
    for (let i = start; i < this.#offset; i++) {
      value |= BigInt(this.#bytes[i]! & 0x7f) << shift
      shift += 7n
    }
    if (this.#bytes[this.#offset - 1]! & 0x40) value -= 1n << shift
    const number = Number(value)
    if (!Number.isSafeInteger(number)) throw new ChunkError('number too large')
    return number
  }

  take(length: number): Uint8Array {
    if (length > this.remaining) throw new ChunkError('truncated field')
    const bytes = this.#bytes.subarray(this.#offset, this.#offset + length)
    this.#offset += length
    return bytes
  }

  /** A count of items each at least `minBytes` long: refused at once when the bytes cannot hold them. */
  count(minBytes: number, canonical = false): number {
    const count = this.uleb(canonical)
    if (count * minBytes > this.remaining) throw new ChunkError('count larger than its data')
    return count
  }

  /** A length-prefixed byte string. */
  prefixed(canonical = false): Uint8Array {
    return this.take(this.uleb(canonical))
  }

  /** Steps over `length` bytes (`take` without the view: nothing allocated). */
  skip(length: number): void {
    if (length > this.remaining) throw new ChunkError('truncated field')
    this.#offset += length
  }

  skipPrefixed(): void {
    this.skip(this.uleb())
  }
}

/** The bytes of `value` as unsigned LEB128. */
export function ulebLength(value: number): number {
  let length = 1
  while (value >= 128) {
    value = Math.floor(value / 128)
    length++
  }
  return length
}

/** A cursor filling bytes sized beforehand (with ulebLength): the writing side of Reader. */
export class Writer {
  readonly bytes: Uint8Array
  #offset = 0

  constructor(length: number) {
    this.bytes = new Uint8Array(length)
  }

  get offset(): number {
    return this.#offset
  }

  byte(value: number): void {
    this.bytes[this.#offset++] = value
  }

  uleb(value: number): void {
    while (value >= 128) {
      this.bytes[this.#offset++] = (value % 128) | 0x80
      value = Math.floor(value / 128)
    }
    this.bytes[this.#offset++] = value
  }

  write(bytes: Uint8Array): void {
    this.bytes.set(bytes, this.#offset)
    this.#offset += bytes.length
  }

  /** Leaves `length` bytes for the caller to fill at `offset`. */
  skip(length: number): void {
    this.#offset += length
  }
}

interface ColumnMeta {
  spec: number
  length: number
}

function readColumnMetas(reader: Reader): ColumnMeta[] {
  const count = reader.count(2)
  const metas: ColumnMeta[] = []
  for (let i = 0; i < count; i++) metas.push({ spec: reader.uleb(), length: reader.uleb() })
  return metas
}

/** Inflates a column or chunk body, refusing output beyond what the budget has left. */
function inflate(bytes: Uint8Array, budget: DecodeBudget): Uint8Array {
  try {
    return inflateRawSync(bytes, { maxOutputLength: Math.max(1, budget.bytes) })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ChunkError(`a compressed column inflates to more than ${budget.bytes} bytes`, 'too-large')
    throw new ChunkError(`a compressed column does not inflate: ${(error as Error).message}`)
  }
}

function spend(budget: DecodeBudget, bytes: number): void {
  budget.bytes -= bytes
  if (budget.bytes < 0) throw new ChunkError('the changes hold too many bytes to decode', 'too-large')
}

/** How many values a column decodes to, without decoding them (every message's changes pass here: no closures). */
function columnRows(data: Uint8Array, type: number, maxRows: number, actions?: readonly number[]): number {
  if (type === ColumnType.valueRaw) return 0
  const reader = new Reader(data)
  let rows = 0
  if (type === ColumnType.boolean) {
    // Alternating run lengths of false and true.
    while (reader.remaining > 0) rows = counted(rows, reader.uleb(), maxRows)
    return rows
  }
  // Run-length encoding: n > 0 repeats the next value n times, n < 0 is -n literal values, 0 is a run of nulls.
  while (reader.remaining > 0) {
    const n = reader.sleb()
    if (n > 0) {
      rows = counted(rows, n, maxRows)
      skipValue(reader, type, actions)
    } else if (n < 0) {
      if (-n > reader.remaining) throw new ChunkError('literal run longer than its column')
      rows = counted(rows, -n, maxRows)
      for (let i = 0; i < -n; i++) skipValue(reader, type, actions)
    } else {
      rows = counted(rows, reader.uleb(), maxRows)
    }
  }
  return rows
}

function counted(rows: number, more: number, maxRows: number): number {
  if (rows + more > maxRows) throw new ChunkError(`the changes decode to more than ${maxRows} rows`, 'too-large')
  return rows + more
}

/** Steps over one value of a column; an action column's value must be one of `actions`. */
function skipValue(reader: Reader, type: number, actions: readonly number[] | undefined): void {
  if (type === ColumnType.delta) reader.sleb()
  else if (type === ColumnType.string) reader.skipPrefixed()
  else if (!actions) reader.uleb()
  else {
    const action = reader.uleb()
    if (!actions.includes(action)) throw new ChunkError(`ops of action ${ACTION_NAMES[action] ?? action} are not allowed`, 'forbidden')
  }
}

/** The rows of the largest column in a block of columns laid out one after the other from `reader`. */
function measureColumns(reader: Reader, metas: ColumnMeta[], budget: DecodeBudget): number {
  let largest = 0
  for (const { spec, length } of metas) {
    let data = reader.take(length)
    if (spec & DEFLATED) data = inflate(data, budget)
    spend(budget, data.length)
    largest = Math.max(largest, columnRows(data, spec & 0x07, budget.rows, (spec & ~DEFLATED) === ACTION_COLUMN ? budget.actions : undefined))
  }
  return largest
}

function measureChangeBody(body: Uint8Array, budget: DecodeBudget): number {
  const reader = new Reader(body)
  reader.skip(reader.count(32) * 32) // deps
  reader.skipPrefixed() // actor
  reader.uleb() // seq
  reader.uleb() // startOp
  reader.sleb() // time
  reader.skipPrefixed() // message
  const others = reader.count(1)
  for (let i = 0; i < others; i++) reader.prefixed()
  return measureColumns(reader, readColumnMetas(reader), budget)
}

function measureDocumentBody(body: Uint8Array, budget: DecodeBudget): number {
  const reader = new Reader(body)
  const actors = reader.count(1)
  for (let i = 0; i < actors; i++) reader.prefixed()
  reader.skip(reader.count(32) * 32) // heads
  const changeColumns = readColumnMetas(reader)
  const opColumns = readColumnMetas(reader)
  const changes = measureColumns(reader, changeColumns, budget)
  const ops = measureColumns(reader, opColumns, budget)
  // Automerge rebuilds every change from the op columns: both count.
  return Math.max(changes, ops) + Math.min(changes, ops)
}

export const ChunkTypes = { document: 0, change: 1, compressedChange: 2 } as const

/**
 * Checks that decoding one chunk's body fits in what is left of `budget`, and takes its
 * share from it. Throws a ChunkError: `too-large` beyond the budget, `forbidden` for an op
 * action the budget does not allow, `malformed` for a broken layout.
 */
export function measureChunk(type: number, body: Uint8Array, budget: DecodeBudget): void {
  let rows: number
  switch (type) {
    case ChunkTypes.document:
      rows = measureDocumentBody(body, budget)
      break
    case ChunkTypes.change:
      rows = measureChangeBody(body, budget)
      break
    case ChunkTypes.compressedChange: {
      // Its columns are counted as they are read.
      rows = measureChangeBody(inflate(body, budget), budget)
      break
    }
    default:
      throw new ChunkError(`unknown chunk type ${type}`)
  }
  // A chunk costs at least one row, so a message of many empty chunks is bounded too.
  budget.rows -= Math.max(1, rows)
  if (budget.rows < 0) throw new ChunkError('the changes decode to too many rows', 'too-large')
}
