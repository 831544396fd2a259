/** Command-line flags every benchmark shares. */

/** `--quick`: a short run. */
export const QUICK = process.argv.includes('--quick')

/** The systems `--only a,b` names, in the order of `all`; all of them without the flag. */
export function selectedSystems<K extends string>(all: readonly K[]): K[] {
  const at = process.argv.indexOf('--only')
  if (at < 0) return [...all]
  const named = process.argv[at + 1]?.split(',') ?? []
  return all.filter(key => named.includes(key))
}
