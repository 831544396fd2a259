/**
 * Decodes one Automerge change chunk into the value `Automerge.decodeChange` returns, in
 * JavaScript: the server checks every change a client sends (relay/segment-ingress.ts,
 * access/guard.ts), and Automerge's WASM decoder with its wrapper's conversion costs 2.4×
 * as much CPU warm and 3× cold (10.4 against 4.3 µs per Parley change;
 * `node --import tsx sync-server/test/measure/change-decode.ts`).
 *
 * It reads what Parley's clients write (maps, lists and scalars: makeMap, set, makeList,
 * del; list elements inserted without preds, changed or deleted through their preds) and
 * is strict: every column is read to its end and holds a value per op (or is
 * absent), every actor index names an actor, every counter fits 32 bits, every string is
 * UTF-8, every number is in its shortest encoding (as Automerge insists). Anything else —
 * a compressed chunk, a deflated or unknown column, another action or value type, bytes
 * after the columns, anything malformed — returns `undefined`, and the caller decodes that
 * chunk with Automerge, which stays the judge of what is malformed. Where it returns a
 * value it is Automerge's value (sync-server/test/change-decode.test.ts, on random changes
 * and on mutated bytes).
 *
 * Hot path: no closures made per call (under tsx each one costs a defineProperty).
 *
 * Layout (Automerge binary format, "Change chunks"): after the chunk header, uLEB #deps
 * and 32-byte hashes | actor | uLEB seq | uLEB startOp | sLEB time | message | other
 * actors | column metadata (count, then spec and length pairs) | column data.
 * A column spec is `id << 4 | type`, bit 3 set when the column is deflated.
 */
import type { DecodedChange } from '@automerge/automerge'
import { Buffer, isUtf8 } from 'node:buffer'
import { ChunkError, Reader } from './chunk-format.ts'

type Op = DecodedChange['ops'][number]
type Value = Op['value'] | null

/** The op columns of a change, by spec (Automerge binary format, "Change chunks"). */
const Column = {
  objActor: 0x01,
  objCtr: 0x02,
  keyActor: 0x11,
  keyCtr: 0x13,
  keyStr: 0x15,
  insert: 0x34,
  action: 0x42,
  valueMeta: 0x56,
  valueRaw: 0x57,
  predGroup: 0x70,
  predActor: 0x71,
  predCtr: 0x73,
} as const
const KNOWN = new Set<number>(Object.values(Column))

/** The actions read here, by code: Parley documents hold maps, lists and scalars only. */
const ACTIONS = ['makeMap', 'set', 'makeList', 'del'] as const
const SET = 1
const DEL = 3

const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
const hex = (bytes: Uint8Array): string => view(bytes).toString('hex')
const text = (bytes: Uint8Array): string => {
  if (!isUtf8(bytes)) throw new ChunkError('a string is not UTF-8')
  return view(bytes).toString('utf8')
}

/**
 * The change in `chunk` (a whole change chunk, type 1, checksum already verified), named
 * by `hash` (the hex SHA-256 of its type, length and body). `undefined`: a change this
 * decoder leaves to Automerge (one it does not read, or a malformed one).
 */
export function decodeChangeChunk(chunk: Uint8Array, hash: string): DecodedChange | undefined {
  try {
    return decode(chunk, hash)
  } catch {
    return undefined
  }
}

/** Not read here: left to Automerge, as anything malformed is. */
const unsupported = (what: string): never => {
  throw new ChunkError(`not read in JavaScript: ${what}`)
}

function decode(chunk: Uint8Array, hash: string): DecodedChange {
  if (chunk[8] !== 1) unsupported('a compressed change')
  const outer = new Reader(chunk, 9)
  const reader = new Reader(outer.take(outer.uleb(true)))
  const deps: string[] = []
  for (let i = reader.count(32, true); i > 0; i--) deps.push(hex(reader.take(32)))
  const actors = [hex(reader.prefixed(true))]
  const seq = reader.uleb(true)
  const startOp = reader.uleb(true)
  if (seq === 0 || startOp === 0) throw new ChunkError('seq and startOp start at 1')
  const time = reader.sleb(true)
  const messageBytes = reader.prefixed(true)
  for (let i = reader.count(1, true); i > 0; i--) actors.push(hex(reader.prefixed(true)))
  const columns = new Map<number, Uint8Array>()
  const lengths: number[] = []
  let last = -1
  for (let i = reader.count(2, true); i > 0; i--) {
    const spec = reader.uleb(true)
    if (spec <= last) throw new ChunkError('change columns out of order')
    if (!KNOWN.has(spec)) unsupported(`column ${spec}`)
    last = spec
    lengths.push(spec, reader.uleb(true))
  }
  for (let i = 0; i < lengths.length; i += 2) columns.set(lengths[i]!, reader.take(lengths[i + 1]!))
  if (reader.remaining > 0) unsupported('bytes after the columns')

  const actions = readUlebs(columns.get(Column.action), -1)
  const rows = actions.length
  // Automerge keeps op counters in 32 bits.
  if (startOp + rows > MAX_COUNTER) throw new ChunkError('op counters beyond 32 bits')
  const objActor = readUlebs(columns.get(Column.objActor), rows)
  const objCtr = readUlebs(columns.get(Column.objCtr), rows)
  const keyActor = readUlebs(columns.get(Column.keyActor), rows)
  const keyCtr = readDeltas(columns.get(Column.keyCtr), rows)
  const keyStr = readStrings(columns.get(Column.keyStr), rows)
  const insert = readBooleans(columns.get(Column.insert), rows)
  const valueMeta = readUlebs(columns.get(Column.valueMeta), rows)
  const hasValueMeta = (columns.get(Column.valueMeta)?.length ?? 0) > 0
  const values = new Reader(columns.get(Column.valueRaw) ?? EMPTY)
  const predGroup = readUlebs(columns.get(Column.predGroup), rows)
  let predCount = 0
  for (const n of predGroup) predCount += n ?? 0
  const predActor = readUlebs(columns.get(Column.predActor), predCount)
  const predCtr = readDeltas(columns.get(Column.predCtr), predCount)

  const ops: Op[] = []
  let pred = 0
  for (let row = 0; row < rows; row++) {
    const code = actions[row] ?? -1
    if (code < 0 || code >= ACTIONS.length) unsupported(`action ${code}`)
    const op: Record<string, unknown> = { action: ACTIONS[code] }
    const objectActor = objActor[row] ?? null
    const objectCtr = objCtr[row] ?? null
    if (objectActor === null && objectCtr === null) op.obj = '_root'
    else if (objectActor === null || objectCtr === null) throw new ChunkError('an object ID with half of it missing')
    else op.obj = opId(objectCtr, objectActor, actors)
    const key = keyStr[row] ?? null
    const ctr = keyCtr[row] ?? null
    const actor = keyActor[row] ?? null
    if (key !== null) {
      if (actor !== null || ctr !== null) throw new ChunkError('an op has both a key and an element')
      op.key = key
    } else if (ctr === null) {
      throw new ChunkError('an op has neither a key nor an element')
    } else if (ctr === 0) {
      if (actor !== null) throw new ChunkError('the list head with an actor')
      op.elemId = '_head'
    } else {
      op.elemId = opId(ctr, actor, actors)
    }
    if (insert[row]) {
      if (key !== null) unsupported('an insert into a map')
      if ((predGroup[row] ?? 0) > 0) unsupported('an insert with preds')
      op.insert = true
    } else if (op.elemId === '_head') {
      unsupported('the list head without an insert')
    } else if (op.elemId !== undefined && (predGroup[row] ?? 0) === 0) {
      unsupported('a list element changed without a pred')
    }
    if (code === DEL && (predGroup[row] ?? 0) === 0) unsupported('a delete of nothing')
    const meta = valueMeta[row]
    if (meta === null && hasValueMeta) unsupported('a null in a value metadata column')
    const value = readValue(values, meta ?? 0)
    if (code === SET) {
      if (value.datatype !== undefined) op.datatype = value.datatype
      op.value = value.value
    } else if (value.value !== null || value.datatype !== undefined) unsupported('a value on an op without one')
    const preds: string[] = []
    for (let n = predGroup[row] ?? 0; n > 0; n--, pred++) preds.push(opId(predCtr[pred] ?? null, predActor[pred] ?? null, actors))
    op.pred = preds
    ops.push(op as Op)
  }
  if (values.remaining > 0) throw new ChunkError('value bytes beyond the values')
  const message = messageBytes.length > 0 ? text(messageBytes) : null
  return { ops, actor: actors[0]!, hash, seq, startOp, time, message, deps } as DecodedChange
}

const EMPTY = new Uint8Array(0)
const MAX_COUNTER = 2 ** 32 - 1

/** `counter@actor`, both checked. */
function opId(ctr: number | null, actor: number | null, actors: readonly string[]): string {
  if (ctr === null || ctr < 1 || ctr > MAX_COUNTER) throw new ChunkError('a counter out of range')
  if (actor === null || actor >= actors.length) throw new ChunkError('an actor index names no actor')
  return `${ctr}@${actors[actor]}`
}

/**
 * Run-length encoded columns: a signed count n, then for n > 0 one value repeated n
 * times, for n < 0 -n literal values, for n = 0 a count of nulls. `rows`: the values the
 * column must hold (-1: any number; an absent column holds nulls).
 */
function readRle<T>(data: Uint8Array | undefined, rows: number, read: (reader: Reader) => T): (T | null)[] {
  if (data === undefined || data.length === 0) return new Array<null>(Math.max(rows, 0)).fill(null)
  const reader = new Reader(data)
  const out: (T | null)[] = []
  const limit = rows >= 0 ? rows : data.length * 64
  while (reader.remaining > 0) {
    const n = reader.sleb(true)
    const count = n === 0 ? reader.uleb(true) : Math.abs(n)
    if (count === 0 || out.length + count > limit) throw new ChunkError('a column run of the wrong length')
    if (n > 0) {
      const value = read(reader)
      for (let i = 0; i < count; i++) out.push(value)
    } else if (n < 0) {
      for (let i = 0; i < count; i++) out.push(read(reader))
    } else {
      for (let i = 0; i < count; i++) out.push(null)
    }
  }
  if (rows >= 0 && out.length !== rows) throw new ChunkError('a column with the wrong number of values')
  return out
}

const readUleb = (reader: Reader): number => reader.uleb(true)
const readString = (reader: Reader): string => text(reader.prefixed(true))
const readUlebs = (data: Uint8Array | undefined, rows: number): (number | null)[] => readRle(data, rows, readUleb)
const readStrings = (data: Uint8Array | undefined, rows: number): (string | null)[] => readRle(data, rows, readString)

/** A delta column: run-length encoded signed differences, nulls leaving the sum alone. */
function readDeltas(data: Uint8Array | undefined, rows: number): (number | null)[] {
  const deltas = readRle(data, rows, readSleb)
  let sum = 0
  for (let i = 0; i < deltas.length; i++) {
    const delta = deltas[i]
    if (delta === null || delta === undefined) continue
    sum += delta
    if (!Number.isSafeInteger(sum)) throw new ChunkError('a counter out of range')
    deltas[i] = sum
  }
  return deltas
}
const readSleb = (reader: Reader): number => reader.sleb(true)

/** A boolean column: alternating run lengths, false first. */
function readBooleans(data: Uint8Array | undefined, rows: number): boolean[] {
  if (data === undefined || data.length === 0) return new Array<boolean>(rows).fill(false)
  const out: boolean[] = []
  const reader = new Reader(data)
  let value = false
  while (reader.remaining > 0) {
    const count = reader.uleb(true)
    if (out.length + count > rows) throw new ChunkError('a column run of the wrong length')
    for (let i = 0; i < count; i++) out.push(value)
    value = !value
  }
  if (out.length !== rows) throw new ChunkError('a column with the wrong number of values')
  return out
}

/** One value: its metadata is `length << 4 | type`, its bytes the next `length` of the raw column. */
function readValue(raw: Reader, meta: number): { value: Value; datatype?: string } {
  const type = meta % 16
  const length = Math.floor(meta / 16)
  const bytes = raw.take(length)
  switch (type) {
    case 0:
      return { value: fixed(null, length, 0) }
    case 1:
    case 2:
      return { value: fixed(type === 2, length, 0) }
    case 3:
      return { value: number(bytes, false), datatype: 'uint' }
    case 4:
      return { value: number(bytes, true), datatype: 'int' }
    case 5:
      return { value: fixed(new DataView(bytes.buffer, bytes.byteOffset, length).getFloat64(0, true), length, 8), datatype: 'float64' }
    case 6:
      return { value: text(bytes) }
    case 7:
      return { value: Array.from(bytes) as unknown as Value }
    case 8:
      return { value: number(bytes, true), datatype: 'counter' }
    case 9:
      return { value: number(bytes, true), datatype: 'timestamp' }
    default:
      return unsupported(`value type ${type}`)
  }
}

function fixed<T>(value: T, length: number, expected: number): T {
  if (length !== expected) throw new ChunkError('a value of the wrong length')
  return value
}

/** A LEB128 value filling exactly its bytes, within 2^53. */
function number(bytes: Uint8Array, signed: boolean): number {
  const reader = new Reader(bytes)
  const value = signed ? reader.sleb(true) : reader.uleb(true)
  if (reader.remaining > 0 || bytes.length === 0) throw new ChunkError('a number value of the wrong length')
  if (!Number.isSafeInteger(value)) throw new ChunkError('a number beyond 2^53')
  return value
}
