/**
 * Stands in for `level` in the browser bundle. The SDK loads LevelDB only for its
 * `level` storage kind; this app stores in IndexedDB through automerge-repo's own
 * adapter (`custom` storage), so LevelDB (browser-level and its Node shims) stays out.
 */
export class Level {
  constructor() {
    throw new Error('LevelDB storage is not bundled in the web app: it uses IndexedDB')
  }
}
