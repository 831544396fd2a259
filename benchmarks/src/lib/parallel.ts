/** Runs `make(i)` for i < count, at most `limit` at a time; resolves with the results in order. */
export async function inParallel<T>(count: number, limit: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      out[i] = await make(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane))
  return out
}
