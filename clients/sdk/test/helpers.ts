/** An unsigned JWT-shaped token: the client only reads `sub`; servers verify. */
export function testToken(user: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode({ alg: 'none' })}.${encode({ sub: user })}.`
}
