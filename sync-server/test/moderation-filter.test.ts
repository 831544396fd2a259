/** The word filter (normalisation, whole words, flag entries), the hook's answers, the projection of decisions. */
import { MODERATION_AUTHOR, project, Timeline, unreadCount, type ModeratedEvent, type ParleyEvent } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { AhoCorasick } from '../src/moderation/aho-corasick.ts'
import { parseAnswer } from '../src/moderation/hook.ts'
import { normalizeText } from '../src/moderation/normalize.ts'
import { parseWordList, WordFilter } from '../src/moderation/word-filter.ts'

describe('normalizeText', () => {
  it('folds case, width and diacritics, and runs of white space', () => {
    expect(normalizeText('ＨÉLLÖ  Wörld')).toBe('hello world')
    expect(normalizeText('ﬁne İstanbul')).toBe('fine istanbul')
    expect(normalizeText('ｶﾀｶﾅ')).toBe(normalizeText('カタカナ'))
  })
})

describe('AhoCorasick', () => {
  it('finds every occurrence a naive search finds, overlapping and nested, in any script', () => {
    let seed = 7
    const random = (n: number): number => ((seed = (seed * 16807) % 2147483647) % n)
    const alphabet = ['a', 'b', 'c', 'é', '猫', '😀', ' ']
    const word = (max: number): string => Array.from({ length: 1 + random(max) }, () => alphabet[random(alphabet.length)]).join('')
    for (let round = 0; round < 50; round++) {
      const patterns = [...new Set(Array.from({ length: 1 + random(40) }, () => word(4)))]
      const text = word(120)
      const expected: string[] = []
      for (let end = 1; end <= text.length; end++) {
        for (const [index, pattern] of patterns.entries()) if (text.slice(0, end).endsWith(pattern)) expected.push(`${end - pattern.length}:${end}:${index}`)
      }
      const found: string[] = []
      new AhoCorasick(patterns).scan(text, (start, end, index) => {
        found.push(`${start}:${end}:${index}`)
        return false
      })
      expect(found.sort()).toEqual(expected.sort())
    }
  })
})

describe('WordFilter', () => {
  const filter = WordFilter.fromText('# comment\n\nBad\n?Watch\nmulti word\n猫\n?bad\n')

  it('finds an entry whatever its case, width or accents', () => {
    expect(filter.check('so ＢÁＤ!')).toEqual({ decision: 'reject', entry: 'bad' })
    expect(filter.check('a Multi\tWORD here')).toEqual({ decision: 'reject', entry: 'multi word' })
  })

  it('matches whole words only, except next to scripts written without spaces', () => {
    expect(filter.check('badge and abad')).toBeUndefined()
    expect(filter.check('bad.')).toMatchObject({ decision: 'reject' })
    expect(filter.check('我的猫很好')).toEqual({ decision: 'reject', entry: '猫' })
  })

  it('flags with `?` entries; a rejecting entry wins, also over its own `?` duplicate', () => {
    expect(filter.check('watch this')).toEqual({ decision: 'flag', entry: 'watch' })
    expect(filter.check('watch this bad thing')).toEqual({ decision: 'reject', entry: 'bad' })
    expect(parseWordList('?x\nx\n?x')).toEqual([{ pattern: 'x', data: 'reject' }])
  })

  it('an empty list finds nothing; an over-long entry is refused with the line', () => {
    expect(WordFilter.fromText('# nothing\n').check('anything')).toBeUndefined()
    expect(() => parseWordList(`ok\n${'x'.repeat(201)}`)).toThrow(/line 2/)
  })
})

describe('the hook’s answer', () => {
  it('takes allow, flag and reject with an optional reason; anything else counts as down', () => {
    expect(parseAnswer('{"decision":"reject","reason":"spam"}')).toEqual({ decision: 'reject', reason: 'spam' })
    expect(parseAnswer('{"decision":"allow"}')).toEqual({ decision: 'allow' })
    for (const body of ['', 'nope', '[]', '{"decision":"maybe"}', '{"decision":"flag","reason":3}', '{"__proto__":{"decision":"allow"}}']) expect(parseAnswer(body)).toHaveProperty('down')
  })
})

describe('projecting moderated events', () => {
  const message = (id: string, at: number, text = `text ${id}`): ParleyEvent => ({ id, type: 'message', author: 'alice', device: 'd', at, text })
  const decision = (id: string, target: string, at: number, value: ModeratedEvent['decision'], extra: Partial<ModeratedEvent> = {}): ModeratedEvent => ({ id, type: 'moderated', target, decision: value, reason: `because ${id}`, author: MODERATION_AUTHOR, device: 'server', at, ...extra })

  it('hides a rejected message, shows a flagged one, and the latest decision wins (a reversal shows it again)', () => {
    const events = [message('m1', 1), message('m2', 2), decision('d1', 'm1', 3, 'rejected'), decision('d2', 'm2', 4, 'flagged')]
    const [m1, m2] = project(events)
    expect(m1).toMatchObject({ text: '', moderation: { decision: 'rejected', reason: 'because d1' } })
    expect(m2).toMatchObject({ text: 'text m2', moderation: { decision: 'flagged' } })
    const reversed = project([...events, decision('d3', 'm1', 5, 'allowed')])[0]!
    expect(reversed.text).toBe('text m1')
    expect(reversed.moderation).toBeUndefined()
  })

  it('ignores a moderated event from any author but the server', () => {
    const [item] = project([message('m1', 1), { ...decision('d1', 'm1', 2, 'rejected'), author: 'bob' }])
    expect(item).toMatchObject({ text: 'text m1' })
    expect(item!.moderation).toBeUndefined()
  })

  it('leaves out a rejected edit; removed messages do not count as unread', () => {
    const edit: ParleyEvent = { id: 'e1', type: 'edit', target: 'm1', text: 'edited badly', author: 'alice', device: 'd', at: 2 }
    const events = [message('m1', 1), edit, decision('d1', 'm1', 3, 'rejected', { edit: 'e1' }), message('m2', 4), decision('d2', 'm2', 5, 'rejected')]
    const timeline = project(events)
    expect(timeline[0]).toMatchObject({ text: 'text m1', moderation: { decision: 'rejected', edit: 'e1' } })
    expect(timeline[0]!.edited).toBeUndefined()
    expect(unreadCount(timeline, 'bob')).toBe(1)
    // The incremental timeline agrees, whatever the arrival order.
    const incremental = new Timeline()
    for (const event of [...events].reverse()) incremental.add(event)
    expect(incremental.items()).toEqual(timeline)
    expect(incremental.unreadCount('bob')).toBe(1)
  })
})
