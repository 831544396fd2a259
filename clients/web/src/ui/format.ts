/** Times and days as the timeline and the conversation list show them, in the reader's locale. */
const DAY_MS = 86_400_000
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'long' })
const shortWeekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' })
const date = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' })
const dateWithYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' })
const shortDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' })
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' })

function startOfDay(at: number): number {
  const day = new Date(at)
  day.setHours(0, 0, 0, 0)
  return day.getTime()
}

export const timeOf = (at: number): string => time.format(at)
export const fullTimeOf = (at: number): string => full.format(at)
export const dayKey = (at: number): number => startOfDay(at)

/** "Today", "Yesterday", "Monday" within a week, else the date. */
export function dayLabel(at: number, now: number = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(at)) / DAY_MS)
  if (days === 0) return 'Today'
  if (days === 1) return 'Yesterday'
  if (days > 1 && days < 7) return weekday.format(at)
  return new Date(at).getFullYear() === new Date(now).getFullYear() ? date.format(at) : dateWithYear.format(at)
}

/** The conversation list's short stamp: a time today, a weekday this week, else a date. */
export function listStamp(at: number, now: number = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(at)) / DAY_MS)
  if (days === 0) return timeOf(at)
  if (days > 0 && days < 7) return shortWeekday.format(at)
  return shortDate.format(at)
}
