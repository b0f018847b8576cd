/**
 * The key that signs the gateway's access tokens, whoever holds it: a key file of the local
 * runtime or an AWS KMS key. Callers see only the public half and a `sign` function, so that the
 * token issuer never handles private key material and cannot tell the two apart.
 */
import { createHash, createPublicKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * The one algorithm the gateway signs its own tokens with: ECDSA on P-256 with SHA-256. Every
 * request verifies a token while only the token endpoint signs, so verification speed decides:
 * on the build machine ES256 verifies in about 0.12 ms against 2.7 ms for ES512 (and signs in
 * 0.07 ms against 3.5 ms), and KMS offers the same curve as `ECC_NIST_P256` / `ECDSA_SHA_256`.
 */
export const TOKEN_SIGNING_ALG = 'ES256';

export type TokenSigningAlg = typeof TOKEN_SIGNING_ALG;

/** The size of r and of s in an ES256 signature; the JOSE signature is r || s. */
export const ES256_PART_BYTES = 32;

export const ES256_SIGNATURE_BYTES = 2 * ES256_PART_BYTES;

export interface TokenSigningKey {
  /** The RFC 7638 thumbprint of the public key: base64url SHA-256, 43 characters. */
  readonly kid: string;
  readonly alg: TokenSigningAlg;
  /** The public key with its public members only (`kty`, `crv`, `x`, `y`). */
  publicJwk(): Promise<JsonWebKey>;
  /** Signs a JWS signing input; the result is the JOSE signature, raw r || s in 64 bytes. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

export type SigningKeyErrorCode =
  | 'signingKey.notP256'
  | 'signingKey.keyRingUnreadable'
  | 'signingKey.kmsKeyUnsupported'
  | 'signingKey.kmsEmptyResponse'
  | 'signingKey.messageTooLarge';

/** A key that cannot sign the gateway's tokens, or a key store that cannot be read. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
  readonly code: SigningKeyErrorCode;

  constructor(code: SigningKeyErrorCode, message: string, cause?: unknown) {
    super(`${code}: ${message}`, { cause });
    this.code = code;
  }
}

/** The public members of a P-256 key as a JWK; anything else is refused. */
export const publicP256Jwk = (key: KeyObject): JsonWebKey => {
  // node derives a public key from a private KeyObject but refuses to "derive" one from a
  // public KeyObject, which is already what is wanted.
  const publicKey = key.type === 'public' ? key : createPublicKey(key);
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) {
    throw new SigningKeyError('signingKey.notP256', 'token signing keys must be EC P-256 keys');
  }

  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
};

/**
 * The RFC 7638 thumbprint of an EC public key: SHA-256 over its required members, in
 * lexicographic order and without whitespace, as base64url.
 */
export const jwkThumbprint = (jwk: JsonWebKey): string => {
  if (jwk.kty !== 'EC' || typeof jwk.crv !== 'string') {
    throw new SigningKeyError('signingKey.notP256', 'only EC keys have a thumbprint here');
  }
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new SigningKeyError('signingKey.notP256', 'the EC key lacks its coordinates');
  }
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });

  return createHash('sha256').update(canonical).digest('base64url');
};

/** A signing key backed by a private key held in this process (the local runtime's keys). */
export const createLocalSigningKey = (privateKey: KeyObject): TokenSigningKey => {
  const jwk = publicP256Jwk(privateKey);

  return {
    kid: jwkThumbprint(jwk),
    alg: TOKEN_SIGNING_ALG,
    publicJwk: async () => ({ ...jwk }),
    // `ieee-p1363` makes node return r || s directly, the encoding JWS wants.
    sign: async (signingInput) =>
      sign('sha256', signingInput, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
};
