/**
 * Counts for the fault suite. `npm test` runs moderate ones (the whole suite stays under
 * five minutes on two shared cores); `npm run reliability:full` (PARLEY_FULL=1) runs the
 * figures the issue names. Each can be set on its own through the environment.
 */
const full = process.env.PARLEY_FULL === '1'

function count(name: string, quick: number, complete: number): number {
  const fromEnv = process.env[name]
  return fromEnv === undefined ? (full ? complete : quick) : Number(fromEnv)
}

export const SCALE = {
  full,
  /** Per-test timeout: the full counts take minutes. */
  timeoutMs: full ? 1_200_000 : 180_000,
  kills: count('PARLEY_KILLS', 20, 20),
  stormClients: count('PARLEY_STORM_CLIENTS', 1000, 5000),
  cycles: count('PARLEY_CYCLES', 5000, 100_000),
  idleConversations: count('PARLEY_IDLE_CONVERSATIONS', 1000, 10_000),
}
