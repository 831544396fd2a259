/** The one total order every replica shows: by `at`, then `device`, then `id`. */
export interface Ordered {
  at: number
  device: string
  id: string
}

export function compareEvents(a: Ordered, b: Ordered): number {
  if (a.at !== b.at) return a.at - b.at
  if (a.device !== b.device) return a.device < b.device ? -1 : 1
  if (a.id !== b.id) return a.id < b.id ? -1 : 1
  return 0
}

/** Sorts a copy and keeps the first of any events that share an ID. */
export function sortUnique<E extends Ordered>(events: Iterable<E>): E[] {
  const sorted = [...events].sort(compareEvents)
  const seen = new Set<string>()
  return sorted.filter(event => !seen.has(event.id) && seen.add(event.id))
}
