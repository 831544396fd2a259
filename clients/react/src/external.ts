/**
 * One external value read through useSyncExternalStore: read once, then again on each
 * event of the source; the component re-renders only when the value changed (`equal`),
 * so a hook re-renders on its own data and nothing else.
 */
import { useMemo, useSyncExternalStore } from 'react'

export type Listen = (changed: () => void) => () => void

export function useExternalValue<T>(source: object | undefined, listen: Listen, read: () => T, equal: (a: T, b: T) => boolean = Object.is): T {
  const store = useMemo(() => {
    let current = read()
    const refresh = (): boolean => {
      const next = read()
      if (equal(current, next)) return false
      current = next
      return true
    }
    return {
      subscribe(notify: () => void): () => void {
        const stop = listen(() => {
          if (refresh()) notify()
        })
        // It may have changed between the render and this subscription.
        if (refresh()) notify()
        return stop
      },
      getSnapshot: (): T => current,
    }
    // The store belongs to its source: listen and read only ever read `source`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [source])
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot)
}

export const noop = (): void => {}
