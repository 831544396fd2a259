/** The part of http_ece (no types of its own) the push tests use to decrypt, as push-service.ts does. */
declare module 'http_ece' {
  import type { ECDH } from 'node:crypto'
  const ece: { decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: Buffer }): Buffer }
  export default ece
}
