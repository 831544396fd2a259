/**
 * Resolves on the event loop's next turn, after every microtask queued now has run:
 * setImmediate in Node, a MessageChannel message in browsers (setTimeout(0) may be
 * clamped to 4 ms there). The client waits for it between a change and its local save
 * (client.ts `#persist`), so that the repo's sync message, which it sends from a chain of
 * microtasks, leaves before the save computes the document's new bytes (issue 15, item 5).
 */
export function nextTurn(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise(resolve => setImmediate(resolve))
  return new Promise(resolve => {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => {
      channel.port1.close()
      resolve()
    }
    channel.port2.postMessage(undefined)
  })
}
