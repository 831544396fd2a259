/**
 * One table of membership changes, run against both ways of making them: the HTTP routes
 * (`POST` / `DELETE /v1/conversations/:id/members`) and a client writing the same change
 * to the conversation head over sync. Both must follow the one rule set
 * (access/rules.ts `refusesMembershipChange`): the same case is allowed or refused on
 * both paths, and a refused change leaves the stored head as it was.
 */
import { next as Automerge } from '@automerge/automerge'
import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { addMember, readHead, scalar, type HeadDoc, type Role } from '@parley/core'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { RawClient, until } from './helpers.ts'

/** Everyone's role in each case's fresh conversation; `x` is not a member. */
const ROLES: Record<string, Role> = { o: 'owner', o2: 'owner', a: 'admin', a2: 'admin', m: 'member', m2: 'member' }

type Change = { type: 'add'; role: Role } | { type: 'remove' }
interface Case {
  actor: string
  target: string
  change: Change
  allowed: boolean
}

const add = (role: Role): Change => ({ type: 'add', role })
const remove: Change = { type: 'remove' }

// prettier-ignore
const CASES: Case[] = [
  // Owners: anything.
  { actor: 'o', target: 'x', change: add('member'), allowed: true },
  { actor: 'o', target: 'x', change: add('admin'), allowed: true },
  { actor: 'o', target: 'x', change: add('owner'), allowed: true },
  { actor: 'o', target: 'm', change: add('admin'), allowed: true },
  { actor: 'o', target: 'a', change: add('member'), allowed: true },
  { actor: 'o', target: 'o2', change: add('admin'), allowed: true },
  { actor: 'o', target: 'o2', change: remove, allowed: true },
  { actor: 'o', target: 'a', change: remove, allowed: true },
  { actor: 'o', target: 'm', change: remove, allowed: true },
  { actor: 'o', target: 'o', change: remove, allowed: true },
  // Admins: add members and admins, remove anyone but owners; no role changes at all.
  { actor: 'a', target: 'x', change: add('member'), allowed: true },
  { actor: 'a', target: 'x', change: add('admin'), allowed: true },
  { actor: 'a', target: 'x', change: add('owner'), allowed: false },
  { actor: 'a', target: 'o', change: add('member'), allowed: false },
  { actor: 'a', target: 'o', change: add('admin'), allowed: false },
  { actor: 'a', target: 'o', change: add('owner'), allowed: false },
  { actor: 'a', target: 'a2', change: add('member'), allowed: false },
  { actor: 'a', target: 'm', change: add('admin'), allowed: false },
  { actor: 'a', target: 'm', change: add('member'), allowed: false },
  { actor: 'a', target: 'a', change: add('owner'), allowed: false },
  { actor: 'a', target: 'o', change: remove, allowed: false },
  { actor: 'a', target: 'a2', change: remove, allowed: true },
  { actor: 'a', target: 'm', change: remove, allowed: true },
  { actor: 'a', target: 'a', change: remove, allowed: true },
  // Members: only leave.
  { actor: 'm', target: 'x', change: add('member'), allowed: false },
  { actor: 'm', target: 'm', change: add('admin'), allowed: false },
  { actor: 'm', target: 'm2', change: add('member'), allowed: false },
  { actor: 'm', target: 'o', change: add('member'), allowed: false },
  { actor: 'm', target: 'm2', change: remove, allowed: false },
  { actor: 'm', target: 'a', change: remove, allowed: false },
  { actor: 'm', target: 'o', change: remove, allowed: false },
  { actor: 'm', target: 'm', change: remove, allowed: true },
]

const describeCase = ({ actor, target, change, allowed }: Case): string =>
  `${ROLES[actor]} ${actor} ${change.type === 'add' ? `adds ${target} (${ROLES[target] ?? 'not a member'}) as ${change.role}` : `removes ${target} (${ROLES[target]})`}: ${allowed ? 'allowed' : 'refused'}`

/** Whether the stored head shows `change` made. */
const made = (doc: HeadDoc, { target, change }: Case): boolean => {
  const members = readHead(doc).members
  return change.type === 'add' ? Object.hasOwn(members, target) && members[target]!.role === change.role : !Object.hasOwn(members, target)
}

describe('membership changes: one rule set for HTTP and sync', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer()))
  afterAll(async () => server.close())

  async function call(user: string, method: 'POST' | 'DELETE', url: string, body?: object) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token(user)}` }, ...(body && { payload: body }) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }

  /** A fresh conversation with everyone in ROLES (o creates it and sets the roles); the server's head handle. */
  async function conversation(): Promise<{ id: string; head: DocHandle<HeadDoc> }> {
    const created = await call('o', 'POST', '/v1/conversations', { kind: 'group', title: 'roles', members: Object.keys(ROLES).filter(user => user !== 'o') })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    for (const [user, role] of Object.entries(ROLES)) {
      if (user !== 'o' && role !== 'member') expect((await call('o', 'POST', `/v1/conversations/${id}/members`, { userId: user, role })).status).toBe(201)
    }
    const head = server.server.repo.handles[id as DocumentId] as DocHandle<HeadDoc>
    expect(Object.fromEntries(Object.entries(readHead(head.doc()).members).map(([user, { role }]) => [user, role]))).toEqual(ROLES)
    return { id, head }
  }

  describe('over HTTP', () => {
    it.each(CASES.map(c => [describeCase(c), c] as const))('%s', async (_name, c) => {
      const { id, head } = await conversation()
      const before = readHead(head.doc())
      const response =
        c.change.type === 'add'
          ? await call(c.actor, 'POST', `/v1/conversations/${id}/members`, { userId: c.target, role: c.change.role })
          : await call(c.actor, 'DELETE', `/v1/conversations/${id}/members/${c.target}`)
      if (c.allowed) {
        expect(response.status).toBe(c.change.type === 'add' ? 201 : 200)
        expect(made(head.doc(), c)).toBe(true)
      } else {
        expect(response.body).toEqual({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: expect.any(String) } })
        expect(response.status).toBe(403)
        expect(readHead(head.doc()).members).toEqual(before.members)
      }
    })
  })

  describe('over sync', () => {
    /** The actor's raw connection sending one change to the head, built on the server's own copy. */
    async function writeAs(actor: string, head: DocHandle<HeadDoc>, change: (doc: HeadDoc) => void): Promise<RawClient> {
      const client = await RawClient.open(server, actor)
      const peerId = `${actor}-${randomBytes(4).toString('hex')}`
      await client.join(peerId)
      const base = Automerge.load<HeadDoc>(Automerge.save(head.doc()), { actor: randomBytes(16).toString('hex') as Automerge.ActorId })
      const after = Automerge.change(base, change)
      const data = Automerge.encodeSyncMessage({ heads: Automerge.getHeads(after), need: [], have: [], changes: Automerge.getChanges(base, after) })
      client.send({ type: 'sync', senderId: peerId, targetId: server.server.repo.peerId, documentId: head.documentId, data })
      return client
    }

    /** The ways a client writes a case: a role change either replaces the entry or sets `role` in it. */
    function writes(c: Case): [string, (doc: HeadDoc) => void][] {
      if (c.change.type === 'remove') return [['entry deleted', doc => delete doc.members[c.target]]]
      const role = c.change.role
      const replace: [string, (doc: HeadDoc) => void] = ['entry written', doc => addMember(doc, c.target, role, c.actor, Date.now())]
      // Setting a role to the one it holds is no change at all: Automerge writes nothing.
      if (!Object.hasOwn(ROLES, c.target) || ROLES[c.target] === role) return [replace]
      return [replace, ['role set', doc => (doc.members[c.target]!.role = scalar(role))]]
    }

    it('refuses an admin’s hand-built entry for the owner that names no predecessor (a role change all the same)', async () => {
      const { head } = await conversation()
      const before = readHead(head.doc())
      const client = await RawClient.open(server, 'a')
      const peerId = `a-${randomBytes(4).toString('hex')}`
      await client.join(peerId)
      const base = Automerge.load<HeadDoc>(Automerge.save(head.doc()), { actor: randomBytes(16).toString('hex') as Automerge.ActorId })
      const after = Automerge.change(base, doc => addMember(doc, 'o', 'member', 'a', Date.now()))
      const decoded = Automerge.decodeChange(Automerge.getChanges(base, after)[0]!)
      // As if the admin had never seen the owner's entry: a concurrent add, not a replacement.
      const forged = Automerge.encodeChange({ ...decoded, ops: decoded.ops.map(op => (op.action === 'makeMap' ? { ...op, pred: [] } : op)) })
      expect(Automerge.decodeChange(forged).ops.find(op => op.action === 'makeMap')?.pred).toEqual([])
      const data = Automerge.encodeSyncMessage({ heads: [Automerge.decodeChange(forged).hash!], need: [], have: [], changes: [forged] })
      client.send({ type: 'sync', senderId: peerId, targetId: server.server.repo.peerId, documentId: head.documentId, data })
      expect(await client.closed).toEqual({ code: 4403, reason: expect.stringMatching(/may not change roles/) })
      expect(readHead(head.doc()).members).toEqual(before.members)
    })

    it.each(CASES.map(c => [describeCase(c), c] as const))('%s', async (_name, c) => {
      for (const [how, change] of writes(c)) {
        const { head } = await conversation()
        const before = readHead(head.doc())
        const client = await writeAs(c.actor, head, change)
        if (c.allowed) {
          await until(head, doc => made(doc, c))
          expect(await Promise.race([client.closed, Promise.resolve('open')]), how).toBe('open')
        } else {
          expect(await client.closed, how).toEqual({ code: 4403, reason: expect.any(String) })
          expect(readHead(head.doc()).members, how).toEqual(before.members)
        }
        client.socket.close()
      }
    })
  })
})
