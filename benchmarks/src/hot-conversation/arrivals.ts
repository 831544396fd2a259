/**
 * Every delivery a member process saw (writer, round, arrival time), in typed arrays,
 * outside the heap: a 10-minute run records about 3 million per process, which as three
 * JS arrays were ~50 MB of heap by minute four for each major collection to go through.
 */
export class Arrivals {
  #writer = new Int32Array(1 << 16)
  #round = new Int32Array(1 << 16)
  #at = new Float64Array(1 << 16)
  #length = 0

  get length(): number {
    return this.#length
  }

  add(writer: number, round: number, at: number): void {
    if (this.#length === this.#at.length) this.#grow()
    this.#writer[this.#length] = writer
    this.#round[this.#length] = round
    this.#at[this.#length++] = at
  }

  writer(i: number): number {
    return this.#writer[i]!
  }

  round(i: number): number {
    return this.#round[i]!
  }

  at(i: number): number {
    return this.#at[i]!
  }

  #grow(): void {
    const size = this.#at.length * 2
    const grown = <T extends Int32Array | Float64Array>(from: T, to: T): T => (to.set(from), to)
    this.#writer = grown(this.#writer, new Int32Array(size))
    this.#round = grown(this.#round, new Int32Array(size))
    this.#at = grown(this.#at, new Float64Array(size))
  }
}
