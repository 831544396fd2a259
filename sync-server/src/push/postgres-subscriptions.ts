/** Push subscriptions in PostgreSQL (migration 5), shared by every node of a cluster. */
import type { PostgresPool } from '../storage/postgres/pool.ts'
import type { PushDevice, PushSubscriptionStore } from './subscriptions.ts'

export class PostgresPushSubscriptions implements PushSubscriptionStore {
  readonly #pool: PostgresPool

  constructor(pool: PostgresPool) {
    this.#pool = pool
  }

  async devices(user: string): Promise<PushDevice[]> {
    const rows = await this.#pool.query<{ device: PushDevice }>('SELECT device FROM parley_push_subscriptions WHERE user_id = $1 ORDER BY created_at, id', [user])
    return rows.map(row => row.device)
  }

  async device(user: string, id: string): Promise<PushDevice | undefined> {
    const rows = await this.#pool.query<{ device: PushDevice }>('SELECT device FROM parley_push_subscriptions WHERE user_id = $1 AND id = $2', [user, id])
    return rows[0]?.device
  }

  async add(user: string, device: PushDevice, max: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO parley_push_subscriptions (user_id, id, device, created_at) VALUES ($1, $2, $3::jsonb, to_timestamp($4::float8 / 1000))
       ON CONFLICT (user_id, id) DO UPDATE SET device = excluded.device, created_at = excluded.created_at`,
      [user, device.id, JSON.stringify(device), device.createdAt],
    )
    await this.#pool.query(
      `DELETE FROM parley_push_subscriptions WHERE user_id = $1 AND id NOT IN
         (SELECT id FROM parley_push_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)`,
      [user, max],
    )
  }

  async remove(user: string, id: string): Promise<boolean> {
    return (await this.#pool.query('DELETE FROM parley_push_subscriptions WHERE user_id = $1 AND id = $2 RETURNING id', [user, id])).length > 0
  }
}
