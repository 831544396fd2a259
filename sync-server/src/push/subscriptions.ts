/**
 * Each user's push subscriptions, one per device (browser profile): the port, and the
 * single-node store in the registry's LevelDB (`<data>/acl`), one record per user:
 *
 *   push:<user id>   → that user's devices, oldest first (at most `max`)
 *
 * PostgreSQL (a cluster) keeps them in parley_push_subscriptions: postgres-subscriptions.ts.
 */
import type { JsonDatabase } from '../storage/json-database.ts'

export interface PushDevice {
  /** Derived from the endpoint (subscription-input.ts deviceId): registering one endpoint again replaces it. */
  id: string
  endpoint: string
  keys: { p256dh: string; auth: string }
  createdAt: number
}

export interface PushSubscriptionStore {
  devices(user: string): Promise<PushDevice[]>
  device(user: string, id: string): Promise<PushDevice | undefined>
  /** Adds or replaces `device`; beyond `max` the user's oldest go. */
  add(user: string, device: PushDevice, max: number): Promise<void>
  /** False when the user has no such device. */
  remove(user: string, id: string): Promise<boolean>
}

const KEY = 'push:'

export class LevelPushSubscriptions implements PushSubscriptionStore {
  readonly #db: JsonDatabase
  /** Per user, the tail of their read-modify-write chain: two devices registering at once must not lose one. Emptied as each chain ends. */
  readonly #chains = new Map<string, Promise<unknown>>()

  constructor(db: JsonDatabase) {
    this.#db = db
  }

  async devices(user: string): Promise<PushDevice[]> {
    return (await this.#db.get<PushDevice[]>(KEY + user)) ?? []
  }

  async device(user: string, id: string): Promise<PushDevice | undefined> {
    return (await this.devices(user)).find(device => device.id === id)
  }

  add(user: string, device: PushDevice, max: number): Promise<void> {
    return this.#update(user, devices => [...devices.filter(one => one.id !== device.id), device].slice(-max))
  }

  async remove(user: string, id: string): Promise<boolean> {
    let found = false
    await this.#update(user, devices => {
      found = devices.some(device => device.id === id)
      return devices.filter(device => device.id !== id)
    })
    return found
  }

  #update(user: string, change: (devices: PushDevice[]) => PushDevice[]): Promise<void> {
    const run = (this.#chains.get(user) ?? Promise.resolve()).then(async () => {
      const next = change(await this.devices(user))
      await this.#db.put(KEY + user, next)
    })
    const tail = run.catch(() => undefined)
    this.#chains.set(user, tail)
    void tail.then(() => {
      if (this.#chains.get(user) === tail) this.#chains.delete(user)
    })
    return run
  }
}
