// Automerge's WASM: the slim entries, and the .wasm file loaded once from a URL (main.js).
export default {
  resolve: {
    alias: [
      { find: /^@automerge\/automerge$/, replacement: '@automerge/automerge/slim' },
      { find: /^@automerge\/automerge-repo$/, replacement: '@automerge/automerge-repo/slim' },
    ],
  },
  build: { target: 'es2022' },
}
