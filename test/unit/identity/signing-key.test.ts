import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createLocalSigningKey,
  jwkThumbprint,
  SigningKeyError,
} from '@shared/identity/tokens/signing-key';
import { generateP256 } from '@test/fixtures/jwt';

describe('createLocalSigningKey', () => {
  it('names the key by its RFC 7638 thumbprint', async () => {
    const { privateKey } = generateP256();
    const key = createLocalSigningKey(privateKey);
    const jwk = await key.publicJwk();
    // The required EC members in lexicographic order, without whitespace (RFC 7638 §3.2).
    const canonical = `{"crv":"P-256","kty":"EC","x":"${String(jwk.x)}","y":"${String(jwk.y)}"}`;

    expect(key.kid).toBe(createHash('sha256').update(canonical).digest('base64url'));
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.alg).toBe('ES256');
  });

  it('gives different keys different kids and the same key the same kid', () => {
    const { privateKey } = generateP256();

    expect(createLocalSigningKey(privateKey).kid).toBe(createLocalSigningKey(privateKey).kid);
    expect(createLocalSigningKey(privateKey).kid).not.toBe(
      createLocalSigningKey(generateP256().privateKey).kid,
    );
  });

  it('publishes the public members only', async () => {
    const key = createLocalSigningKey(generateP256().privateKey);

    expect(Object.keys(await key.publicJwk()).sort()).toEqual(['crv', 'kty', 'x', 'y']);
  });

  it('signs in the JOSE form: 64 bytes of r || s that node verifies', async () => {
    const { privateKey, publicKey } = generateP256();
    const key = createLocalSigningKey(privateKey);
    const input = Buffer.from('header.claims');

    const signature = await key.sign(input);

    expect(signature).toHaveLength(64);
    expect(verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(
      true,
    );
  });

  it('refuses keys that are not P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;

    expect(() => createLocalSigningKey(rsa)).toThrow(SigningKeyError);
    expect(() => createLocalSigningKey(p384)).toThrow(/signingKey\.notP256/);
  });
});

describe('jwkThumbprint', () => {
  it('ignores members other than the required ones and their order', () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'abc', y: 'def' };

    expect(
      jwkThumbprint({ y: 'def', x: 'abc', kid: 'k', use: 'sig', crv: 'P-256', kty: 'EC' }),
    ).toBe(jwkThumbprint(jwk));
  });

  it('refuses a key without coordinates', () => {
    expect(() => jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'abc' })).toThrow(SigningKeyError);
    expect(() => jwkThumbprint({ kty: 'RSA', n: 'abc', e: 'AQAB' })).toThrow(SigningKeyError);
  });
});
