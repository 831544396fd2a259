import { describe, expect, it } from 'vitest'
import { conversationTitle, parseMembers } from '../../src/data/names.ts'

const member = { role: 'member' as const, addedBy: 'alice', at: 1 }

describe('names', () => {
  it('reads members separated by commas or spaces, without duplicates or yourself', () => {
    expect(parseMembers(' bob, carol  dave,bob ,alice', 'alice')).toEqual(['bob', 'carol', 'dave'])
    expect(parseMembers(' , ', 'alice')).toEqual([])
  })

  it('names a conversation by its title, else by the others in it', () => {
    expect(conversationTitle({ title: 'Lunch', members: { alice: member, bob: member } }, 'alice')).toBe('Lunch')
    expect(conversationTitle({ title: '', members: { carol: member, alice: member, bob: member } }, 'alice')).toBe('bob, carol')
    expect(conversationTitle({ title: '', members: { alice: member } }, 'alice')).toBe('Just you')
  })
})
