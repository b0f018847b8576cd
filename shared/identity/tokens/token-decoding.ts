/**
 * Takes a compact JWS apart without trusting it: the header is decoded and judged before the
 * claims are even decoded, and every claim the gateway reads is checked for its type, so that
 * the code after this never meets a string where it expects a number. The claims decoded here
 * are the very bytes whose signature is checked later, so once it verifies they are the
 * verified claims.
 */
import { rejectToken as reject } from './token-failures';

/**
 * The largest token looked at. The gateway's own tokens are under 1 KiB and user tokens of
 * common identity providers under 4 KiB; 8 KiB leaves room for large group claims while a
 * hostile header is refused before it is decoded.
 */
export const MAX_TOKEN_BYTES = 8192;

/** Key ids of common providers are under 100 characters; longer ones are not looked up. */
export const MAX_KID_CHARS = 128;

/** The claims every token must carry, checked for type before any signature work. */
export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly exp: number;
  readonly iat?: number;
  readonly jti?: string;
  readonly scope?: string;
  readonly client_id?: string;
  readonly [claim: string]: unknown;
}

/** A token taken apart, its header judged and its claims typed, its signature not yet checked. */
export interface UnverifiedToken {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: TokenClaims;
  readonly alg: string;
  readonly kid: string;
  readonly signature: string;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** Base64, base64url, dots and colons: what key ids of common providers are made of. */
const KID_CHARACTERS = /^[A-Za-z0-9+/=_.:-]+$/;
/** Headers that would let a token name its own key, or extensions nobody here understands. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;
/** The exact signature sizes of the ECDSA algorithms: r || s. */
const ECDSA_SIGNATURE_BYTES: Readonly<Record<string, number>> = {
  ES256: 64,
  ES384: 96,
  ES512: 132,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether a claim is a string. */
export const isString = (value: unknown): value is string => typeof value === 'string';

const isTime = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);

/** Whether a claim is a list of strings, as `aud` or `scp` may be. */
export const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every(isString);

const decodeSegment = (segment: string | undefined): Record<string, unknown> => {
  if (segment === undefined || !SEGMENT.test(segment)) {
    throw reject('malformed');
  }

  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw reject('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw reject('malformed');
  }

  return value as Record<string, unknown>;
};

/** Rejects a kid by its form alone, so that an odd one never reaches a key lookup. */
const checkKid = (kid: unknown): string => {
  if (
    !isString(kid) ||
    kid.length === 0 ||
    kid.length > MAX_KID_CHARS ||
    !KID_CHARACTERS.test(kid) ||
    kid.includes('..')
  ) {
    throw reject('invalid_kid');
  }

  return kid;
};

const checkClaimTypes = (claims: Record<string, unknown>): TokenClaims => {
  const { iss, sub, exp, nbf, iat, jti, aud, scope } = claims;
  const valid =
    isString(iss) &&
    isString(sub) &&
    sub !== '' &&
    isTime(exp) &&
    (nbf === undefined || isTime(nbf)) &&
    (iat === undefined || isTime(iat)) &&
    (jti === undefined || isString(jti)) &&
    (aud === undefined || isString(aud) || isStringList(aud)) &&
    (scope === undefined || isString(scope)) &&
    (claims.client_id === undefined || isString(claims.client_id));
  if (!valid) {
    throw reject('invalid_claims');
  }

  return claims as TokenClaims;
};

/** Splits and decodes a token, checking the header before the claims are even decoded. */
export const decodeToken = (jwt: string, algorithms: ReadonlySet<string>): UnverifiedToken => {
  const segments = jwt.split('.');
  if (segments.length !== 3) {
    throw reject('malformed');
  }
  const [headerSegment, claimsSegment, signature] = segments;

  const header = decodeSegment(headerSegment);
  if (!isString(header.alg) || !algorithms.has(header.alg)) {
    throw reject('unsupported_alg');
  }
  if (FORBIDDEN_HEADERS.some((name) => Object.hasOwn(header, name))) {
    throw reject('forbidden_header');
  }
  if (header.typ !== undefined && !isString(header.typ)) {
    throw reject('malformed');
  }
  const kid = checkKid(header.kid);

  const claims = checkClaimTypes(decodeSegment(claimsSegment));
  if (signature === undefined || !SEGMENT.test(signature)) {
    throw reject('malformed');
  }

  return { header, claims, alg: header.alg, kid, signature };
};

/** Compares `typ` as RFC 7515 says: without case, `application/` optional. */
export const typMatches = (typ: unknown, expected: string): boolean => {
  if (!isString(typ)) {
    return false;
  }
  const actual = typ.toLowerCase();
  const wanted = expected.toLowerCase();

  return actual === wanted || actual === `application/${wanted}`;
};

/** An ECDSA signature of the wrong size is refused here; node would throw on it. */
export const checkSignatureSize = (token: UnverifiedToken): void => {
  const expectedBytes = ECDSA_SIGNATURE_BYTES[token.alg];
  if (
    expectedBytes !== undefined &&
    Buffer.from(token.signature, 'base64url').byteLength !== expectedBytes
  ) {
    throw reject('bad_signature');
  }
};

/** Refuses what is not a string or too long before anything is decoded. */
export const checkTokenSize = (jwt: unknown): string => {
  if (!isString(jwt) || jwt === '') {
    throw reject('malformed');
  }
  // A JWS is ASCII, so characters are bytes; anything else fails the segment pattern later.
  if (jwt.length > MAX_TOKEN_BYTES) {
    throw reject('too_large');
  }

  return jwt;
};
