/**
 * The one place that knows which Automerge line is installed.
 *
 * automerge-repo changes documents through Automerge's `next` API, where a plain JS
 * string becomes collaborative text (one op per character). Every string Parley
 * stores is a scalar instead: `RawString` on 2.x, `ImmutableString` on 3.x.
 */
import { next as Automerge } from '@automerge/automerge'

type ScalarCtor = new (value: string) => { readonly val: string }

// Looked up by name, not as `Automerge.ImmutableString`: a bundler checks static member
// reads of a namespace and warns about the one that 2.x does not export.
const ScalarString: ScalarCtor =
  (Reflect.get(Automerge, 'ImmutableString') as ScalarCtor | undefined) ?? (Reflect.get(Automerge, 'RawString') as ScalarCtor)

/** A string stored as one immutable scalar value. */
export type Scalar = { readonly val: string }

export function scalar(value: string): Scalar {
  return new ScalarString(value)
}

/** Reads a string field whether it came back as a scalar object or a plain string. */
export function readString(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'object' && value !== null && typeof (value as Scalar).val === 'string') {
    return (value as Scalar).val
  }
  return undefined
}
