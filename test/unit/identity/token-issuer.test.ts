import { verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLocalSigningKey, type TokenSigningKey } from '@shared/identity/tokens/signing-key';
import {
  issueAccessToken,
  TOKEN_TTL_SECONDS,
  TokenIssueError,
} from '@shared/identity/tokens/token-issuer';
import { decodeJwt, generateP256 } from '@test/fixtures/jwt';

const ISSUER = 'https://gateway.blux.test';
const AUDIENCE = 'https://api.blux.test';
const ISSUED_AT = new Date('2030-05-01T12:00:00.750Z');
const ISSUED_AT_SECONDS = Math.floor(ISSUED_AT.getTime() / 1000);

const issue = (key: TokenSigningKey, scopes = ['tasks:read', 'tasks:write']) =>
  issueAccessToken({
    key,
    issuer: ISSUER,
    audience: AUDIENCE,
    clientId: 'svc-1',
    scopes,
    now: ISSUED_AT,
  });

describe('issueAccessToken', () => {
  it('writes an RFC 9068 header naming the key', async () => {
    const key = createLocalSigningKey(generateP256().privateKey);

    const { accessToken } = await issue(key);

    expect(decodeJwt(accessToken).header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: key.kid });
  });

  it('writes every claim: issuer, client as subject, audience, times, id and scopes', async () => {
    const key = createLocalSigningKey(generateP256().privateKey);

    const issued = await issue(key);

    expect(decodeJwt(issued.accessToken).claims).toEqual({
      iss: ISSUER,
      sub: 'svc-1',
      aud: AUDIENCE,
      exp: ISSUED_AT_SECONDS + TOKEN_TTL_SECONDS,
      iat: ISSUED_AT_SECONDS,
      nbf: ISSUED_AT_SECONDS,
      jti: issued.tokenId,
      scope: 'tasks:read tasks:write',
      client_id: 'svc-1',
    });
    expect(issued).toMatchObject({ expiresIn: 3600, scope: 'tasks:read tasks:write' });
  });

  it('gives each token a random id of at least 128 bits', async () => {
    const key = createLocalSigningKey(generateP256().privateKey);

    const ids = await Promise.all([1, 2, 3].map(async () => (await issue(key)).tokenId));

    expect(new Set(ids).size).toBe(3);
    for (const id of ids) {
      expect(Buffer.from(id, 'base64url').byteLength).toBeGreaterThanOrEqual(16);
    }
  });

  it('signs the token so that node verifies it with the public key', async () => {
    const { privateKey, publicKey } = generateP256();

    const { accessToken } = await issue(createLocalSigningKey(privateKey));
    const [header, claims, signature = ''] = accessToken.split('.');

    expect(
      verify(
        'sha256',
        Buffer.from(`${header}.${claims}`),
        { key: publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      ),
    ).toBe(true);
  });

  it('refuses a scope with a space, a quote or nothing in it', async () => {
    const key = createLocalSigningKey(generateP256().privateKey);

    for (const scope of ['tasks:read tasks:write', 'say"hi"', '']) {
      await expect(issue(key, [scope])).rejects.toMatchObject({ code: 'token.invalidScope' });
    }
  });

  it('refuses a key that answers with something other than a 64-byte signature', async () => {
    const key: TokenSigningKey = {
      ...createLocalSigningKey(generateP256().privateKey),
      sign: async () => new Uint8Array(70),
    };

    await expect(issue(key)).rejects.toThrow(TokenIssueError);
  });
});
