/**
 * The gateway's published key set (RFC 7517), what `/.well-known/jwks.json` answers with and
 * what the verifier preloads. Members are picked one by one rather than copied, so that a key
 * source that hands over a private JWK can never publish its `d`.
 */
import type { JsonWebKey } from 'node:crypto';
import {
  SigningKeyError,
  TOKEN_SIGNING_ALG,
  type TokenSigningAlg,
  type TokenSigningKey,
} from './signing-key';

/** One published key: public members only. A type alias, so it is a `JsonWebKey` as well. */
export type PublishedJwk = {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: TokenSigningAlg;
  readonly use: 'sig';
};

export type PublishedJwks = {
  readonly keys: readonly PublishedJwk[];
};

/** The published form of one public key under `kid`; refuses anything but EC P-256. */
export const toPublishedJwk = (jwk: JsonWebKey, kid: string): PublishedJwk => {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') {
    throw new SigningKeyError('signingKey.notP256', 'only EC P-256 keys can be published');
  }
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new SigningKeyError('signingKey.notP256', 'the EC key lacks its coordinates');
  }

  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: TOKEN_SIGNING_ALG, use: 'sig' };
};

/** The key set that publishes `keys`, in the order given (the active key first, by custom). */
export const toJwks = async (keys: readonly TokenSigningKey[]): Promise<PublishedJwks> => {
  const published = await Promise.all(
    keys.map(async (key) => toPublishedJwk(await key.publicJwk(), key.kid)),
  );

  return { keys: published };
};
