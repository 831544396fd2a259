/**
 * Aho–Corasick over UTF-16 code units: every occurrence of every pattern in one pass
 * over the text, whatever the number of patterns. Ours rather than `modern-ahocorasick`
 * (tried first): that package matches whole grapheme clusters, and with a 10,000-entry
 * list it took 80–250 µs per 200-character message against the 20 µs target
 * (benchmarks/RESULTS.md "moderation"); the filter normalises the text first
 * (normalize.ts), so code units are all it needs.
 *
 * The automaton is packed once at build: the root's transitions in a dense table (the
 * state most characters of a clean text fall back to), a dense row of ASCII transitions
 * for each state with at least DENSE_CHILDREN children (the shallow, branching states a
 * scan spends most of its time in), everything else in one open-addressing hash of
 * (state, code unit) → state in typed arrays; failure links and output links (the
 * nearest state on the failure chain that ends a pattern) as arrays.
 */
const EMPTY = -1
const DENSE_CHILDREN = 4
const ASCII = 128

export class AhoCorasick {
  readonly #root = new Int32Array(0x10000)
  /** Per state, the offset of its dense ASCII row in #rows, or EMPTY. */
  readonly #rowOf: Int32Array
  readonly #rows: Int32Array
  readonly #keyState: Int32Array
  readonly #keyCode: Uint16Array
  readonly #next: Int32Array
  readonly #mask: number
  readonly #fail: Int32Array
  /** The pattern that ends exactly at a state (the first given), or EMPTY. */
  readonly #ends: Int32Array
  /** The nearest state down the failure chain (not this one) at which a pattern ends, or 0 for none. */
  readonly #outLink: Int32Array
  readonly lengths: Int32Array

  constructor(patterns: readonly string[]) {
    // The trie, with a Map per state: build time only.
    const children: Map<number, number>[] = [new Map()]
    const ends: number[] = [EMPTY]
    this.lengths = new Int32Array(patterns.length)
    for (const [index, pattern] of patterns.entries()) {
      this.lengths[index] = pattern.length
      let state = 0
      for (let i = 0; i < pattern.length; i++) {
        const code = pattern.charCodeAt(i)
        let next = children[state]!.get(code)
        if (next === undefined) {
          next = children.length
          children.push(new Map())
          ends.push(EMPTY)
          children[state]!.set(code, next)
        }
        state = next
      }
      if (pattern.length > 0 && ends[state] === EMPTY) ends[state] = index
    }
    const states = children.length
    let edges = 0
    for (const map of children) edges += map.size
    let size = 16
    while (size < edges * 2) size *= 2
    this.#mask = size - 1
    this.#keyState = new Int32Array(size).fill(EMPTY)
    this.#keyCode = new Uint16Array(size)
    this.#next = new Int32Array(size)
    for (const [code, next] of children[0]!) this.#root[code] = next
    this.#rowOf = new Int32Array(states).fill(EMPTY)
    let rows = 0
    for (let state = 1; state < states; state++) if (children[state]!.size >= DENSE_CHILDREN) this.#rowOf[state] = ASCII * rows++
    this.#rows = new Int32Array(ASCII * rows)
    for (let state = 1; state < states; state++) {
      const row = this.#rowOf[state]!
      for (const [code, next] of children[state]!) {
        if (row !== EMPTY && code < ASCII) this.#rows[row + code] = next
        else this.#put(state, code, next)
      }
    }

    // Failure and output links, breadth first.
    this.#fail = new Int32Array(states)
    this.#outLink = new Int32Array(states)
    this.#ends = Int32Array.from(ends)
    const queue = [...children[0]!.values()]
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!
      for (const [code, child] of children[state]!) {
        let fallback = this.#fail[state]!
        while (fallback !== 0 && this.#child(fallback, code) === 0) fallback = this.#fail[fallback]!
        const target = this.#child(fallback, code)
        this.#fail[child] = target === child ? 0 : target
        const failed = this.#fail[child]!
        this.#outLink[child] = this.#ends[failed] !== EMPTY ? failed : this.#outLink[failed]!
        queue.push(child)
      }
    }
  }

  /**
   * Calls `found(start, end, pattern)` for every occurrence (UTF-16 offsets, end
   * exclusive), in the order their ends are reached, until it returns true.
   */
  scan(text: string, found: (start: number, end: number, pattern: number) => boolean): void {
    // The hot loop: fields read once into locals, the transition lookup inlined (#child).
    const root = this.#root
    const rowOf = this.#rowOf
    const rows = this.#rows
    const keyState = this.#keyState
    const keyCode = this.#keyCode
    const nextOf = this.#next
    const mask = this.#mask
    const fail = this.#fail
    const ends = this.#ends
    const outLink = this.#outLink
    let state = 0
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      let next = 0
      for (;;) {
        if (state === 0) {
          next = root[code]!
          break
        }
        const row = rowOf[state]!
        if (row !== EMPTY && code < ASCII) next = rows[row + code]!
        else {
          next = 0
          let hash = Math.imul(state, 0x9e3779b1) ^ Math.imul(code, 0x85ebca6b)
          hash ^= hash >>> 15
          for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
            const key = keyState[slot]!
            if (key === EMPTY) break
            if (key === state && keyCode[slot] === code) {
              next = nextOf[slot]!
              break
            }
          }
        }
        if (next !== 0) break
        state = fail[state]!
      }
      state = next
      for (let out = ends[state] !== EMPTY ? state : outLink[state]!; out !== 0; out = outLink[out]!) {
        const pattern = ends[out]!
        if (found(i + 1 - this.lengths[pattern]!, i + 1, pattern)) return
      }
    }
  }

  #child(state: number, code: number): number {
    if (state === 0) return this.#root[code]!
    const row = this.#rowOf[state]!
    if (row !== EMPTY && code < ASCII) return this.#rows[row + code]!
    for (let slot = this.#slot(state, code); ; slot = (slot + 1) & this.#mask) {
      const key = this.#keyState[slot]!
      if (key === EMPTY) return 0
      if (key === state && this.#keyCode[slot] === code) return this.#next[slot]!
    }
  }

  #put(state: number, code: number, next: number): void {
    let slot = this.#slot(state, code)
    while (this.#keyState[slot] !== EMPTY) slot = (slot + 1) & this.#mask
    this.#keyState[slot] = state
    this.#keyCode[slot] = code
    this.#next[slot] = next
  }

  #slot(state: number, code: number): number {
    let hash = Math.imul(state, 0x9e3779b1) ^ Math.imul(code, 0x85ebca6b)
    hash ^= hash >>> 15
    return hash & this.#mask
  }
}
