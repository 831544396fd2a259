import bs58check from 'bs58check'
import * as sha256 from 'fast-sha256'

const encoder = new TextEncoder()

/** A random, URL-safe identifier (96 bits) for events and devices. */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  let out = ''
  for (const byte of bytes) out += String.fromCharCode(byte)
  return btoa(out).replace(/\+/g, '-').replace(/\//g, '_')
}

/** 16 bytes derived from a name: stable across devices and servers. */
export function derivedBytes(namespace: string, name: string): Uint8Array {
  return sha256.hash(encoder.encode(`${namespace}\0${name}`)).slice(0, 16)
}

/** An automerge-repo document ID (bs58check of 16 bytes) derived from a name. */
export function derivedDocumentId(namespace: string, name: string): string {
  return bs58check.encode(derivedBytes(namespace, name))
}

/** Accepts a bare document ID or its `automerge:` URL form. */
export function bareDocumentId(idOrUrl: string): string {
  return idOrUrl.startsWith('automerge:') ? idOrUrl.slice('automerge:'.length).split('#')[0]! : idOrUrl
}
