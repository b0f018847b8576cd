import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toJwks } from '@shared/identity/tokens/jwks';
import { openLocalKeyRing } from '@shared/identity/tokens/local-key-ring';
import { SigningKeyError, type TokenSigningKey } from '@shared/identity/tokens/signing-key';

/** A key whose source carelessly hands over its private JWK. */
const leakyKey = (): TokenSigningKey => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  return {
    kid: 'leaky',
    alg: 'ES256',
    publicJwk: async () => ({ ...privateKey.export({ format: 'jwk' }), kid: 'other' }),
    sign: async () => new Uint8Array(64),
  };
};

describe('toJwks', () => {
  it('publishes each key with kid, alg and use, the active key first', async () => {
    const ring = await openLocalKeyRing();
    const first = ring.activeKey();
    const second = await ring.rotate();

    const jwks = await toJwks(ring.publishedKeys());

    expect(jwks.keys.map((jwk) => jwk.kid)).toEqual([second.kid, first.kid]);
    for (const jwk of jwks.keys) {
      expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
  });

  it('never publishes a private member, even when the key source hands one over', async () => {
    const ring = await openLocalKeyRing();

    const text = JSON.stringify(await toJwks([...ring.publishedKeys(), leakyKey()]));

    expect(text).not.toMatch(/"d"/);
    expect(text).toContain('"kid":"leaky"');
  });

  it('refuses a key that is not EC P-256', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const key: TokenSigningKey = {
      ...leakyKey(),
      publicJwk: async () => rsa.export({ format: 'jwk' }),
    };

    await expect(toJwks([key])).rejects.toThrow(SigningKeyError);
  });
});
