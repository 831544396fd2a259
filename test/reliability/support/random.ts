/** A seeded PRNG (mulberry32): the same seed replays the same kill points and load. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** PARLEY_SEED from the environment, else the given default; printed so a failure can be replayed. */
export function seedFromEnv(fallback: number): number {
  const seed = process.env.PARLEY_SEED === undefined ? fallback : Number(process.env.PARLEY_SEED)
  process.stdout.write(`[reliability] seed ${seed} (replay with PARLEY_SEED=${seed})\n`)
  return seed
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs` naming `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Awaits `promise`, failing after `ms` with what was awaited (and `context()`, e.g. a server log tail). */
export async function step<T>(what: string, promise: Promise<T>, context: () => string = () => '', ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${context().slice(-3000)}`)), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
