import type { Conversation, TimelineItem } from '@parley/client'

/** Resolves with the timeline once `predicate` holds (checked now and on every change). */
export function timelineWhere(conversation: Conversation, predicate: (timeline: TimelineItem[]) => boolean): Promise<TimelineItem[]> {
  return new Promise(resolve => {
    let stop: (() => void) | undefined
    let done = false
    stop = conversation.subscribe(timeline => {
      if (done || !predicate(timeline)) return
      done = true
      queueMicrotask(() => stop?.())
      resolve(timeline)
    })
    if (done) stop()
  })
}
