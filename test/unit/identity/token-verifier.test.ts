import { generateKeyPairSync } from 'node:crypto';
import { JwtVerifier } from 'aws-jwt-verify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ServiceUnavailableError, UnauthorizedError } from '@shared/errors/gateway-error';
import { toJwks } from '@shared/identity/tokens/jwks';
import { openLocalKeyRing } from '@shared/identity/tokens/local-key-ring';
import { createLocalSigningKey } from '@shared/identity/tokens/signing-key';
import { issueAccessToken, TOKEN_TTL_SECONDS } from '@shared/identity/tokens/token-issuer';
import {
  createTokenVerifier,
  KEY_REFRESH_BACKOFF_MS,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_BYTES,
} from '@shared/identity/tokens/token-verifier';
import type { TrustedIssuerConfig } from '@shared/identity/tokens/trusted-issuers';
import {
  base64url,
  craftJwt,
  epochSeconds,
  es256Signer,
  generateP256,
  generateRsa,
  hs256Signer,
  rs256Signer,
  withSignature,
} from '@test/fixtures/jwt';

const ISSUER = 'https://gateway.blux.test';
const AUDIENCE = 'https://api.blux.test';
const USER_ISSUER = 'https://idp.example.test';

/** A trusted issuer no unit test may reach: its JWKS URI is never fetched here. */
const userIssuer: TrustedIssuerConfig = {
  issuer: USER_ISSUER,
  audience: 'blux',
  jwksUri: 'https://idp.example.test/.well-known/jwks.json',
  algorithms: ['RS256'],
};

type Claims = Record<string, unknown>;

/** A verifier of the gateway's own tokens, its key, and a maker of tokens signed with it. */
const setUp = (trustedIssuers: TrustedIssuerConfig[] = []) => {
  const { privateKey, publicKey } = generateP256();
  const key = createLocalSigningKey(privateKey);
  const keySource = vi.fn(async () => (await toJwks([key])).keys);
  const verifier = createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: keySource,
    trustedIssuers,
  });
  const now = epochSeconds();
  const header = (overrides: Claims = {}): Claims => ({
    alg: 'ES256',
    typ: 'at+jwt',
    kid: key.kid,
    ...overrides,
  });
  const claims = (overrides: Claims = {}): Claims => ({
    iss: ISSUER,
    sub: 'svc-1',
    aud: AUDIENCE,
    exp: now + 600,
    iat: now,
    nbf: now,
    jti: 'token-1',
    scope: 'tasks:read tasks:write',
    client_id: 'svc-1',
    ...overrides,
  });
  const token = (headerOverrides: Claims = {}, claimOverrides: Claims = {}): string =>
    craftJwt(header(headerOverrides), claims(claimOverrides), es256Signer(privateKey));

  return { key, publicKey, keySource, verifier, now, header, claims, token };
};

const refusalOf = async (verifying: Promise<unknown>): Promise<UnauthorizedError> => {
  const outcome = await verifying.then(
    () => 'accepted',
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(UnauthorizedError);

  return outcome as UnauthorizedError;
};

const expectRefused = async (verifying: Promise<unknown>, reason: string): Promise<void> => {
  const error = await refusalOf(verifying);

  expect({ status: error.status, reason: error.reason }).toEqual({ status: 401, reason });
};

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('createTokenVerifier with the gateway’s own tokens', () => {
  it('accepts an issued token as its client’s service identity, with every claim', async () => {
    const { key, verifier } = setUp();
    const issued = await issueAccessToken({
      key,
      issuer: ISSUER,
      audience: AUDIENCE,
      clientId: 'svc-reports',
      scopes: ['tasks:read', 'audit:read'],
    });

    const identity = await verifier.verify(issued.accessToken);

    expect(identity).toEqual({
      id: 'service:svc-reports',
      kind: 'service',
      subject: 'svc-reports',
      scopes: ['tasks:read', 'audit:read'],
      method: 'bearer',
      issuer: ISSUER,
      expiresAt: epochSeconds() + TOKEN_TTL_SECONDS,
      tokenId: issued.tokenId,
    });
  });

  it('accepts a token without scopes as one that holds none', async () => {
    const { verifier, token } = setUp();

    expect((await verifier.verify(token({}, { scope: '' }))).scopes).toEqual([]);
  });

  it('accepts typ written as a media type, in any case', async () => {
    const { verifier, token } = setUp();

    await expect(verifier.verify(token({ typ: 'application/at+jwt' }))).resolves.toBeDefined();
    await expect(verifier.verify(token({ typ: 'AT+JWT' }))).resolves.toBeDefined();
  });

  it('accepts a token that expired or starts within the allowed clock skew', async () => {
    const { verifier, token, now } = setUp();

    await expect(verifier.verify(token({}, { exp: now - 30 }))).resolves.toBeDefined();
    await expect(
      verifier.verify(token({}, { nbf: now + 30, iat: now + 30 })),
    ).resolves.toBeDefined();
  });
});

describe('createTokenVerifier refusing forged algorithms', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])(
    'refuses an unsigned token with alg %s before any key lookup',
    async (alg) => {
      const { verifier, header, claims, keySource } = setUp();
      const unsigned = craftJwt(header({ alg }), claims());

      await expectRefused(verifier.verify(unsigned), 'unsupported_alg');
      await expectRefused(verifier.verify(`${unsigned}${base64url('x')}`), 'unsupported_alg');
      expect(keySource).not.toHaveBeenCalled();
    },
  );

  it('refuses an HS256 token keyed with the bytes of the public key', async () => {
    const { verifier, header, claims, key, publicKey, keySource } = setUp();
    const secrets = [
      Buffer.from(JSON.stringify(await key.publicJwk())),
      Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })),
      publicKey.export({ type: 'spki', format: 'der' }),
    ];

    for (const secret of secrets) {
      const forged = craftJwt(header({ alg: 'HS256' }), claims(), hs256Signer(secret));

      await expectRefused(verifier.verify(forged), 'unsupported_alg');
    }
    expect(keySource).not.toHaveBeenCalled();
  });

  it.each(['RS256', 'ES512', 'PS256', 'EdDSA', 'HS512', ''])(
    'refuses alg %s for the gateway’s own issuer',
    async (alg) => {
      const { verifier, token } = setUp([userIssuer]);

      await expectRefused(verifier.verify(token({ alg })), 'unsupported_alg');
    },
  );

  it('refuses an alg that is not a string', async () => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({ alg: ['ES256'] })), 'unsupported_alg');
  });

  it('pins algorithms per issuer: an ES256 token claiming an RS256 issuer is refused', async () => {
    const { verifier, token } = setUp([userIssuer]);
    const fetchSpy = vi.spyOn(globalThis, 'fetch');

    await expectRefused(
      verifier.verify(token({ typ: 'JWT' }, { iss: USER_ISSUER })),
      'unsupported_alg',
    );
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('createTokenVerifier refusing bad signatures', () => {
  it('refuses a signature with one bit flipped', async () => {
    const { verifier, token } = setUp();
    const signature = Buffer.from(token().split('.')[2] ?? '', 'base64url');
    signature[10] = (signature[10] ?? 0) ^ 0x01;

    await expectRefused(verifier.verify(withSignature(token(), signature)), 'bad_signature');
  });

  it('refuses a truncated, an all-zero, an oversized and a DER-encoded signature', async () => {
    const { verifier, token } = setUp();
    const signature = Buffer.from(token().split('.')[2] ?? '', 'base64url');
    const der = Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), signature.subarray(0, 32)]);

    for (const forged of [signature.subarray(0, 40), Buffer.alloc(64), Buffer.alloc(65, 1), der]) {
      await expectRefused(verifier.verify(withSignature(token(), forged)), 'bad_signature');
    }
  });

  it('refuses a token signed by another key under the same kid', async () => {
    const { verifier, header, claims } = setUp();
    const other = generateP256().privateKey;

    await expectRefused(
      verifier.verify(craftJwt(header(), claims(), es256Signer(other))),
      'bad_signature',
    );
  });

  it('refuses a token whose claims were changed after signing', async () => {
    const { verifier, token, claims } = setUp();
    const [header, , signature] = token().split('.');
    const elevated = base64url(JSON.stringify(claims({ scope: 'audit:read' })));

    await expectRefused(verifier.verify(`${header}.${elevated}.${signature}`), 'bad_signature');
  });
});

describe('createTokenVerifier never following key references in the token', () => {
  const attacker = generateP256();
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
  const attackerRsa = generateRsa();
  const references: [string, unknown][] = [
    ['jku', 'https://attacker.example/jwks.json'],
    ['x5u', 'https://attacker.example/cert.pem'],
    ['jwk', attackerJwk],
    ['x5c', ['MIIBszCCAVmgAwIBAgIUXm']],
    ['crit', ['exp']],
  ];

  it.each(references)(
    'refuses a %s header without fetching anything or looking up a key',
    async (name, value) => {
      const { verifier, header, claims, keySource } = setUp([userIssuer]);
      const fetchSpy = vi.spyOn(globalThis, 'fetch');
      const own = craftJwt(header({ [name]: value }), claims(), es256Signer(attacker.privateKey));
      const user = craftJwt(
        { alg: 'RS256', kid: 'user-key', [name]: value },
        claims({ iss: USER_ISSUER, aud: 'blux' }),
        rs256Signer(attackerRsa.privateKey),
      );

      await expectRefused(verifier.verify(own), 'forbidden_header');
      await expectRefused(verifier.verify(user), 'forbidden_header');
      expect(fetchSpy).not.toHaveBeenCalled();
      expect(keySource).not.toHaveBeenCalled();
    },
  );
});

describe('createTokenVerifier refusing odd kids before any lookup', () => {
  it.each([
    ['a path', '../../etc/passwd'],
    ['too long a string', 'k'.repeat(200)],
    ['an empty string', ''],
    ['odd characters', 'kid with spaces'],
    ['a number', 42],
    ['an object', { $ne: null }],
    ['null', null],
  ])('refuses a kid that is %s', async (_label, kid) => {
    const { verifier, token, keySource } = setUp([userIssuer]);
    const fetchSpy = vi.spyOn(globalThis, 'fetch');

    await expectRefused(verifier.verify(token({ kid })), 'invalid_kid');
    await expectRefused(
      verifier.verify(token({ alg: 'RS256', kid }, { iss: USER_ISSUER })),
      'invalid_kid',
    );
    expect(keySource).not.toHaveBeenCalled();
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('refuses a token without a kid', async () => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({ kid: undefined })), 'invalid_kid');
  });

  it('refuses a 10,000-character kid for its size, before decoding it', async () => {
    const { verifier, token, keySource } = setUp();

    await expectRefused(verifier.verify(token({ kid: 'k'.repeat(10_000) })), 'too_large');
    expect(keySource).not.toHaveBeenCalled();
  });

  it('refuses a kid that is not a thumbprint for the gateway’s own issuer', async () => {
    const { verifier, token, keySource } = setUp();

    await expectRefused(verifier.verify(token({ kid: 'key-2024' })), 'invalid_kid');
    expect(keySource).not.toHaveBeenCalled();
  });

  it('refuses a well-formed kid the gateway does not publish', async () => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({ kid: 'A'.repeat(43) })), 'unknown_kid');
  });
});

describe('createTokenVerifier refusing claims', () => {
  it('refuses an expired token', async () => {
    const { verifier, token, now } = setUp();

    await expectRefused(verifier.verify(token({}, { exp: now - 120 })), 'expired');
  });

  it('refuses a token that is not valid yet, by nbf or by iat', async () => {
    const { verifier, token, now } = setUp();

    await expectRefused(verifier.verify(token({}, { nbf: now + 300 })), 'not_yet_valid');
    await expectRefused(
      verifier.verify(token({}, { nbf: undefined, iat: now + 300 })),
      'not_yet_valid',
    );
  });

  it('refuses a token without exp', async () => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({}, { exp: undefined })), 'invalid_claims');
  });

  it('refuses a token of another issuer', async () => {
    const { verifier, token } = setUp();

    await expectRefused(
      verifier.verify(token({}, { iss: 'https://gateway.blux.test/' })),
      'wrong_issuer',
    );
  });

  it('refuses a token for another audience', async () => {
    const { verifier, token } = setUp();

    await expectRefused(
      verifier.verify(token({}, { aud: 'https://other.test' })),
      'wrong_audience',
    );
    await expectRefused(verifier.verify(token({}, { aud: undefined })), 'wrong_audience');
  });

  it('refuses a token whose typ is not at+jwt, or that has none', async () => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({ typ: 'JWT' })), 'wrong_typ');
    await expectRefused(verifier.verify(token({ typ: undefined })), 'wrong_typ');
    await expectRefused(verifier.verify(token({ typ: 7 })), 'malformed');
  });

  it.each([
    ['scope is a number', { scope: 42 }],
    ['scope is a list', { scope: ['tasks:read'] }],
    ['scope is missing', { scope: undefined }],
    ['exp is a string', { exp: '4102444800' }],
    ['exp is null', { exp: null }],
    ['iat is a string', { iat: 'now' }],
    ['nbf is an object', { nbf: {} }],
    ['iss is a number', { iss: 1 }],
    ['aud holds a number', { aud: [AUDIENCE, 1] }],
    ['sub is missing', { sub: undefined }],
    ['sub is not the client', { sub: 'svc-admin' }],
    ['client_id is missing', { client_id: undefined }],
    ['jti is a number', { jti: 1 }],
  ])('refuses a token whose %s', async (_label, overrides) => {
    const { verifier, token } = setUp();

    await expectRefused(verifier.verify(token({}, overrides)), 'invalid_claims');
  });
});

describe('createTokenVerifier refusing malformed input', () => {
  it('refuses a token of several kilobytes before parsing it', async () => {
    const { verifier, token, keySource } = setUp();
    const large = token({}, { padding: 'x'.repeat(MAX_TOKEN_BYTES) });

    await expectRefused(verifier.verify(large), 'too_large');
    await expectRefused(verifier.verify('e'.repeat(64 * 1024)), 'too_large');
    expect(keySource).not.toHaveBeenCalled();
  });

  it('accepts a token of a few kilobytes under the limit', async () => {
    const { verifier, token } = setUp();

    await expect(verifier.verify(token({}, { padding: 'x'.repeat(5_000) }))).resolves.toBeDefined();
  });

  it.each([
    ['an empty string', ''],
    ['one segment', 'abc'],
    ['two segments', 'abc.def'],
    ['four segments', 'a.b.c.d'],
    ['a header that is not JSON', `${base64url('{alg')}.${base64url('{}')}.c2ln`],
    ['a header that is a list', `${base64url('["ES256"]')}.${base64url('{}')}.c2ln`],
    ['characters outside base64url', 'ey$.ey$.sig'],
    ['padding', `${base64url('{"alg":"ES256"}')}==.e30.c2ln`],
  ])('refuses %s as malformed', async (_label, jwt) => {
    const { verifier } = setUp();

    await expectRefused(verifier.verify(jwt), 'malformed');
  });

  it('refuses claims that are not a JSON object', async () => {
    const { verifier, header } = setUp();
    const jwt = `${base64url(JSON.stringify(header()))}.${base64url('[1,2]')}.c2ln`;

    await expectRefused(verifier.verify(jwt), 'malformed');
  });

  it('refuses what is not a string at all', async () => {
    const { verifier } = setUp();

    for (const value of [undefined, null, 42, { token: 'x' }]) {
      await expectRefused(verifier.verify(value as unknown as string), 'malformed');
    }
  });

  it('never puts the token, its claims or its signature into the error', async () => {
    const { verifier, token, now } = setUp();
    const refused = [
      token({}, { aud: 'elsewhere' }),
      token({}, { exp: now - 3600 }),
      token({ kid: 'A'.repeat(43) }),
      withSignature(token(), Buffer.alloc(64)),
      withSignature(token(), Buffer.alloc(12)),
    ];

    for (const jwt of refused) {
      const error = await refusalOf(verifier.verify(jwt));
      const [, claims = '', signature = ''] = jwt.split('.');
      const told = [
        error.message,
        JSON.stringify(error.details),
        JSON.stringify(error.headers),
        String(error.cause ?? ''),
        error.stack,
      ].join('\n');

      expect(told).not.toContain(claims);
      expect(told).not.toContain(signature);
    }
  });
});

describe('createTokenVerifier caching verified tokens', () => {
  it('verifies a token again without the key source or the signature check', async () => {
    const { verifier, token, keySource } = setUp();
    const signatureChecks = vi.spyOn(JwtVerifier.prototype, 'verifySync');
    const jwt = token();

    const first = await verifier.verify(jwt);
    const second = await verifier.verify(jwt);

    expect(second).toEqual(first);
    expect(keySource).toHaveBeenCalledTimes(1);
    expect(signatureChecks).toHaveBeenCalledTimes(1);
  });

  it('refuses a cached token once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { verifier, token, now } = setUp();
    const signatureChecks = vi.spyOn(JwtVerifier.prototype, 'verifySync');
    const jwt = token({}, { exp: now + 600 });
    await verifier.verify(jwt);

    vi.setSystemTime((now + 600 + MAX_CLOCK_SKEW_SECONDS + 1) * 1000);

    await expectRefused(verifier.verify(jwt), 'expired');
    await expectRefused(verifier.verify(jwt), 'expired');
    expect(signatureChecks).toHaveBeenCalledTimes(2);
  });

  it('does not cache refusals', async () => {
    const { verifier, token } = setUp();
    const signatureChecks = vi.spyOn(JwtVerifier.prototype, 'verifySync');
    const jwt = token({}, { aud: 'elsewhere' });

    await expectRefused(verifier.verify(jwt), 'wrong_audience');
    await expectRefused(verifier.verify(jwt), 'wrong_audience');
    expect(signatureChecks).toHaveBeenCalledTimes(2);
  });
});

describe('createTokenVerifier loading the gateway’s own keys', () => {
  it('preloads the keys so that the first token needs no lookup', async () => {
    const { verifier, token, keySource } = setUp();

    await verifier.refreshKeys();
    await verifier.verify(token());

    expect(keySource).toHaveBeenCalledTimes(1);
  });

  it('reloads the keys when a token names a key rotated in since', async () => {
    const ring = await openLocalKeyRing();
    const keySource = vi.fn(async () => (await toJwks(ring.publishedKeys())).keys);
    const verifier = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: keySource });
    const issue = async () =>
      (
        await issueAccessToken({
          key: ring.activeKey(),
          issuer: ISSUER,
          audience: AUDIENCE,
          clientId: 'svc-1',
          scopes: [],
        })
      ).accessToken;
    const beforeRotation = [await issue(), await issue()];
    await verifier.verify(beforeRotation[0] ?? '');

    await ring.rotate();
    const afterRotation = await issue();

    await expect(verifier.verify(afterRotation)).resolves.toMatchObject({ id: 'service:svc-1' });
    await expect(verifier.verify(beforeRotation[1] ?? '')).resolves.toBeDefined();
    expect(keySource).toHaveBeenCalledTimes(2);
  });

  it('reloads for unknown kids at most once per backoff period', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { verifier, token, keySource } = setUp();

    await expectRefused(verifier.verify(token({ kid: 'A'.repeat(43) })), 'unknown_kid');
    await expectRefused(verifier.verify(token({ kid: 'B'.repeat(43) })), 'unknown_kid');
    expect(keySource).toHaveBeenCalledTimes(1);

    vi.advanceTimersByTime(KEY_REFRESH_BACKOFF_MS + 1);
    await expectRefused(verifier.verify(token({ kid: 'C'.repeat(43) })), 'unknown_kid');
    expect(keySource).toHaveBeenCalledTimes(2);
  });

  it('shares one reload between concurrent requests', async () => {
    const { verifier, token, keySource } = setUp();

    await Promise.all([1, 2, 3, 4].map((n) => verifier.verify(token({}, { jti: `t-${n}` }))));

    expect(keySource).toHaveBeenCalledTimes(1);
  });

  it('answers 503, not 500, when the key source fails', async () => {
    const verifier = createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: async () => {
        throw new Error('key store down');
      },
    });
    const { token } = setUp();

    const error = await verifier.verify(token()).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503 });
  });

  it('ignores source keys that are not EC P-256 and private members of the rest', async () => {
    const { privateKey } = generateP256();
    const key = createLocalSigningKey(privateKey);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const verifier = createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: async () => [
        rsa.export({ format: 'jwk' }),
        { ...privateKey.export({ format: 'jwk' }), kid: key.kid },
      ],
    });
    const issued = await issueAccessToken({
      key,
      issuer: ISSUER,
      audience: AUDIENCE,
      clientId: 'svc-1',
      scopes: [],
    });

    await expect(verifier.verify(issued.accessToken)).resolves.toMatchObject({ kind: 'service' });
  });
});
