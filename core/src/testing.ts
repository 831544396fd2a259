import type { ParleyEvent } from './events.ts'
import { randomId } from './ids.ts'

let counter = 0

/** A valid message event with sensible defaults, for tests. */
export function messageEvent(overrides: Partial<Extract<ParleyEvent, { type: 'message' }>> = {}): ParleyEvent {
  counter++
  return { id: randomId(), type: 'message', author: 'alice', device: 'device-a', at: 1_700_000_000_000 + counter, text: `message ${counter}`, ...overrides }
}
