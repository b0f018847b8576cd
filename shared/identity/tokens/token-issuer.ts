/**
 * Issues the gateway's OAuth 2.0 access tokens as RFC 9068 JWTs. The token endpoint decides who
 * gets which scopes; this module only writes the token down and has it signed.
 */
import { randomBytes } from 'node:crypto';
import { formatScopes } from '@shared/identity/scopes';
import { ES256_SIGNATURE_BYTES, type TokenSigningKey } from './signing-key';
import { CodedError } from '@shared/errors/coded-error';

/** How long an access token holds. Clients ask again rather than refresh. */
export const TOKEN_TTL_SECONDS = 3600;

/** The RFC 9068 `typ` header of an access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** 128 random bits: a `jti` nobody can guess or make collide. */
export const TOKEN_ID_BYTES = 16;

/** RFC 6749 scope-token characters: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export type TokenIssueErrorCode = 'token.invalidScope' | 'token.badSignature';

export class TokenIssueError extends CodedError<TokenIssueErrorCode> {
  override readonly name = 'TokenIssueError';
}

export interface IssueAccessTokenInput {
  readonly key: TokenSigningKey;
  /** The gateway's own issuer URL, the `iss` every verifier of the gateway expects. */
  readonly issuer: string;
  readonly audience: string;
  readonly clientId: string;
  /** The scopes granted, already checked against what the client may hold. */
  readonly scopes: readonly string[];
  /** The issuing time; the present unless a test says otherwise. */
  readonly now?: Date;
}

/** What the token endpoint answers with, in the gateway's own words. */
export interface IssuedAccessToken {
  readonly accessToken: string;
  readonly expiresIn: number;
  /** The granted scopes, space-separated, as RFC 6749 returns them. */
  readonly scope: string;
  /** The token's `jti`, for the audit entry of the grant. */
  readonly tokenId: string;
}

const encodeSegment = (value: object): string =>
  Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** Signs a new access token for `clientId` with `key`. */
export const issueAccessToken = async (
  input: IssueAccessTokenInput,
): Promise<IssuedAccessToken> => {
  const invalid = input.scopes.find((scope) => !SCOPE_TOKEN.test(scope));
  if (invalid !== undefined) {
    throw new TokenIssueError('token.invalidScope', 'a scope is empty or holds a forbidden char');
  }

  const issuedAt = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const tokenId = randomBytes(TOKEN_ID_BYTES).toString('base64url');
  const scope = formatScopes(input.scopes);
  const header = { alg: input.key.alg, typ: ACCESS_TOKEN_TYP, kid: input.key.kid };
  const claims = {
    iss: input.issuer,
    sub: input.clientId,
    aud: input.audience,
    exp: issuedAt + TOKEN_TTL_SECONDS,
    iat: issuedAt,
    nbf: issuedAt,
    jti: tokenId,
    scope,
    client_id: input.clientId,
  };

  const signingInput = `${encodeSegment(header)}.${encodeSegment(claims)}`;
  const signature = await input.key.sign(Buffer.from(signingInput, 'ascii'));
  // A key that answered in DER, or with another curve, would mint tokens nobody can verify.
  if (signature.byteLength !== ES256_SIGNATURE_BYTES) {
    throw new TokenIssueError('token.badSignature', 'the key did not return a JOSE signature');
  }
  const accessToken = `${signingInput}.${Buffer.from(signature).toString('base64url')}`;

  return { accessToken, expiresIn: TOKEN_TTL_SECONDS, scope, tokenId };
};
