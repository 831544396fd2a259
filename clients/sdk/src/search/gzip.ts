/**
 * gzip through the platform's CompressionStream (browsers, Node ≥ 18): the index's JSON is
 * mostly words, IDs and digits, and shrinks to about a quarter (benchmarks/RESULTS.md,
 * "search"). Asynchronous, so a large shard does not block the page while it compresses.
 */
export async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

export async function gunzip(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'))
  return new Response(stream).text()
}
