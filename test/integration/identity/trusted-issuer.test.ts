import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonWebKey } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceUnavailableError, UnauthorizedError } from '@shared/errors/gateway-error';
import { toJwks } from '@shared/identity/tokens/jwks';
import { createLocalSigningKey } from '@shared/identity/tokens/signing-key';
import { createTokenVerifier, type TokenVerifier } from '@shared/identity/tokens/token-verifier';
import type { TrustedIssuerConfig } from '@shared/identity/tokens/trusted-issuers';
import {
  craftJwt,
  epochSeconds,
  es256Signer,
  generateP256,
  generateRsa,
  rs256Signer,
} from '@test/fixtures/jwt';

const GATEWAY = 'https://gateway.blux.test';
const IDP = 'https://idp.example.test';
const USER_AUDIENCE = 'blux-api';

/** The second issuer of these tests: an RSA key, its JWKS on a local server. */
const idpKey = { ...generateRsa(), kid: 'idp-rsa-1' };
let jwks: { keys: JsonWebKey[] };
let jwksStatus = 200;
let jwksRequests: string[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    jwksRequests.push(String(request.url));
    if (request.url === '/moved') {
      response.writeHead(302, { location: '/.well-known/jwks.json' });
      response.end();
      return;
    }
    response.writeHead(jwksStatus, { 'content-type': 'application/json' });
    response.end(JSON.stringify(jwksStatus === 200 ? jwks : { message: 'down' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

afterEach(() => {
  jwks = publishedIdpKeys();
  jwksStatus = 200;
  jwksRequests = [];
});

const publishedIdpKeys = (): { keys: JsonWebKey[] } => ({
  keys: [
    { ...idpKey.publicKey.export({ format: 'jwk' }), kid: idpKey.kid, alg: 'RS256', use: 'sig' },
  ],
});
jwks = publishedIdpKeys();

const trustedIdp = (overrides: Partial<TrustedIssuerConfig> = {}): TrustedIssuerConfig => ({
  issuer: IDP,
  audience: USER_AUDIENCE,
  jwksUri: `${base}/.well-known/jwks.json`,
  algorithms: ['RS256'],
  ...overrides,
});

const verifierTrusting = (trustedIssuers: TrustedIssuerConfig[]): TokenVerifier => {
  const own = createLocalSigningKey(generateP256().privateKey);

  return createTokenVerifier({
    issuer: GATEWAY,
    audience: 'blux',
    keys: async () => (await toJwks([own])).keys,
    trustedIssuers,
  });
};

const userToken = (
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string => {
  const now = epochSeconds();

  return craftJwt(
    { alg: 'RS256', typ: 'JWT', kid: idpKey.kid, ...header },
    {
      iss: IDP,
      sub: 'user-7f3a',
      aud: USER_AUDIENCE,
      exp: now + 900,
      iat: now,
      jti: 'user-token-1',
      scope: 'tasks:read tasks:write',
      ...claims,
    },
    rs256Signer(idpKey.privateKey),
  );
};

const reasonOf = async (verifying: Promise<unknown>): Promise<string> => {
  const error = await verifying.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UnauthorizedError);

  return (error as UnauthorizedError).reason;
};

describe('a trusted user issuer', () => {
  it('has its user token accepted as user:<sub> with its scopes when configured', async () => {
    const verifier = verifierTrusting([trustedIdp()]);

    const identity = await verifier.verify(userToken());

    expect(identity).toEqual({
      id: 'user:user-7f3a',
      kind: 'user',
      subject: 'user-7f3a',
      scopes: ['tasks:read', 'tasks:write'],
      method: 'bearer',
      issuer: IDP,
      expiresAt: expect.any(Number),
      tokenId: 'user-token-1',
    });
    expect(jwksRequests).toEqual(['/.well-known/jwks.json']);
  });

  it('has its token refused, without a fetch, when it is not configured', async () => {
    const trustingNobody = verifierTrusting([]);
    const trustingAnother = verifierTrusting([
      trustedIdp({ issuer: 'https://other-idp.example.test' }),
    ]);

    // With no issuer signing RS256 the algorithm alone ends it; otherwise the issuer does.
    expect(await reasonOf(trustingNobody.verify(userToken()))).toBe('unsupported_alg');
    expect(await reasonOf(trustingAnother.verify(userToken()))).toBe('wrong_issuer');
    expect(jwksRequests).toEqual([]);
  });

  it('fetches its JWKS once for many tokens', async () => {
    const verifier = verifierTrusting([trustedIdp()]);

    for (const jti of ['a', 'b', 'c']) {
      await verifier.verify(userToken({ jti }));
    }

    expect(jwksRequests).toHaveLength(1);
  });

  it('reads scopes from scp, as a list or a string, when configured so', async () => {
    const verifier = verifierTrusting([trustedIdp({ scopeClaim: 'scp' })]);

    const fromList = await verifier.verify(userToken({ scope: undefined, scp: ['tasks:read'] }));
    const fromString = await verifier.verify(
      userToken({ scope: 'x', scp: 'audit:read tasks:read' }),
    );

    expect(fromList.scopes).toEqual(['tasks:read']);
    expect(fromString.scopes).toEqual(['audit:read', 'tasks:read']);
    expect(await reasonOf(verifier.verify(userToken({ scp: 7 })))).toBe('invalid_claims');
  });

  it('checks client_id as the audience for issuers whose access tokens lack aud', async () => {
    const verifier = verifierTrusting([
      trustedIdp({ audience: 'cognito-app-client', audienceClaim: 'client_id' }),
    ]);

    await expect(
      verifier.verify(userToken({ aud: undefined, client_id: 'cognito-app-client' })),
    ).resolves.toMatchObject({ id: 'user:user-7f3a' });
    expect(
      await reasonOf(verifier.verify(userToken({ aud: undefined, client_id: 'other-client' }))),
    ).toBe('wrong_audience');
  });

  it('refuses its token for another audience or with a bad signature', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    const forged = craftJwt(
      { alg: 'RS256', kid: idpKey.kid },
      { iss: IDP, sub: 'admin', aud: USER_AUDIENCE, exp: epochSeconds() + 900 },
      rs256Signer(generateRsa().privateKey),
    );

    expect(await reasonOf(verifier.verify(userToken({ aud: 'other-api' })))).toBe('wrong_audience');
    expect(await reasonOf(verifier.verify(forged))).toBe('bad_signature');
  });

  it('refuses an algorithm the issuer is not configured with, before fetching keys', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    const attacker = generateP256();
    const token = craftJwt(
      { alg: 'ES256', kid: idpKey.kid },
      { iss: IDP, sub: 'admin', aud: USER_AUDIENCE, exp: epochSeconds() + 900 },
      es256Signer(attacker.privateKey),
    );

    expect(await reasonOf(verifier.verify(token))).toBe('unsupported_alg');
    expect(jwksRequests).toEqual([]);
  });

  it('refuses a jku header pointing at a key set, which is never fetched', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    const attackerJwks = `${base}/attacker/jwks.json`;

    expect(await reasonOf(verifier.verify(userToken({}, { jku: attackerJwks })))).toBe(
      'forbidden_header',
    );
    expect(await reasonOf(verifier.verify(userToken({}, { x5u: `${base}/attacker.pem` })))).toBe(
      'forbidden_header',
    );
    expect(jwksRequests).toEqual([]);
  });

  it('requires the typ it is configured with', async () => {
    const verifier = verifierTrusting([trustedIdp({ requireTyp: 'at+jwt' })]);

    expect(await reasonOf(verifier.verify(userToken()))).toBe('wrong_typ');
    await expect(verifier.verify(userToken({}, { typ: 'at+jwt' }))).resolves.toBeDefined();
  });

  it('refuses a kid its JWKS lacks, without refetching for every such token', async () => {
    const verifier = verifierTrusting([trustedIdp()]);

    expect(await reasonOf(verifier.verify(userToken({}, { kid: 'rotated-away' })))).toBe(
      'unknown_kid',
    );
    expect(await reasonOf(verifier.verify(userToken({}, { kid: 'made-up' })))).toBe('unknown_kid');
    expect(jwksRequests).toHaveLength(1);
  });

  it('fetches its JWKS again when a token names a key it added since', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    await verifier.verify(userToken());
    const added = { ...generateRsa(), kid: 'idp-rsa-2' };
    jwks = {
      keys: [
        ...publishedIdpKeys().keys,
        { ...added.publicKey.export({ format: 'jwk' }), kid: added.kid, alg: 'RS256' },
      ],
    };
    const token = craftJwt(
      { alg: 'RS256', kid: added.kid },
      { iss: IDP, sub: 'user-2', aud: USER_AUDIENCE, exp: epochSeconds() + 900 },
      rs256Signer(added.privateKey),
    );

    await expect(verifier.verify(token)).resolves.toMatchObject({ id: 'user:user-2' });
    expect(jwksRequests).toHaveLength(2);
  });

  it('follows no redirect and reads no oversized key set', async () => {
    const redirected = verifierTrusting([trustedIdp({ jwksUri: `${base}/moved` })]);
    const oversized = verifierTrusting([trustedIdp()]);

    const redirectError = await redirected.verify(userToken()).catch((caught: unknown) => caught);
    jwks = { keys: [...publishedIdpKeys().keys, { kty: 'oct', k: 'x'.repeat(70_000) }] };
    const sizeError = await oversized.verify(userToken()).catch((caught: unknown) => caught);

    expect(redirectError).toBeInstanceOf(ServiceUnavailableError);
    expect(sizeError).toBeInstanceOf(ServiceUnavailableError);
    expect(jwksRequests).toEqual(['/moved', '/.well-known/jwks.json']);
  });

  it('answers 503 when its JWKS cannot be fetched', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    jwksStatus = 500;

    const error = await verifier.verify(userToken()).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503 });
  });

  it('cannot have its keys vouch for the gateway’s own service identities', async () => {
    const verifier = verifierTrusting([trustedIdp()]);
    const token = craftJwt(
      { alg: 'RS256', typ: 'at+jwt', kid: idpKey.kid },
      {
        iss: GATEWAY,
        sub: 'svc-admin',
        client_id: 'svc-admin',
        aud: 'blux',
        exp: epochSeconds() + 900,
        jti: 'x',
        scope: 'audit:read',
      },
      rs256Signer(idpKey.privateKey),
    );

    expect(await reasonOf(verifier.verify(token))).toBe('unsupported_alg');
    expect(jwksRequests).toEqual([]);
  });
});
