import { describe, expect, it } from 'vitest'
import { dayKey, dayLabel } from '../../src/ui/format.ts'

describe('day separators', () => {
  const now = new Date(2026, 10, 28, 9, 30).getTime()

  it('says Today, Yesterday, the weekday within a week, else the date', () => {
    expect(dayLabel(new Date(2026, 10, 28, 0, 5).getTime(), now)).toBe('Today')
    expect(dayLabel(new Date(2026, 10, 27, 23, 59).getTime(), now)).toBe('Yesterday')
    // The rest is in the reader's own locale.
    const tuesday = new Date(2026, 10, 24, 12, 0)
    expect(dayLabel(tuesday.getTime(), now)).toBe(new Intl.DateTimeFormat(undefined, { weekday: 'long' }).format(tuesday))
    const october = new Date(2026, 9, 1, 12, 0)
    expect(dayLabel(october.getTime(), now)).toContain(new Intl.DateTimeFormat(undefined, { month: 'long' }).format(october))
    expect(dayLabel(new Date(2025, 9, 1, 12, 0).getTime(), now)).toContain('2025')
  })

  it('puts two times of one local day under one key', () => {
    expect(dayKey(new Date(2026, 10, 28, 0, 1).getTime())).toBe(dayKey(new Date(2026, 10, 28, 23, 59).getTime()))
    expect(dayKey(new Date(2026, 10, 28, 0, 1).getTime())).not.toBe(dayKey(new Date(2026, 10, 27, 23, 59).getTime()))
  })
})
