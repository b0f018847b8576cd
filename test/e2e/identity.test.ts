import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import {
  accessToken,
  ADMIN_CLIENT,
  registerTestClient,
  requestToken,
  useAdminClient,
} from '@test/fixtures/identity';
import { craftJwt, decodeJwt, epochSeconds } from '@test/fixtures/jwt';
import { startTestGateway } from '@test/fixtures/local-gateway';

let gateway: LocalGateway;
let readerSecret: string;

beforeAll(async () => {
  useAdminClient();
  gateway = await startTestGateway();
  readerSecret = await registerTestClient(gateway, {
    clientId: 'e2e-reader',
    scopes: ['tasks:read'],
  });
});

afterAll(async () => {
  await gateway.stop();
});

const credentials = {
  grant_type: 'client_credentials',
  client_id: ADMIN_CLIENT.id,
  client_secret: ADMIN_CLIENT.secret,
};

const validate = (token: string | undefined, body: unknown) =>
  fetch(`${gateway.url}/v1/identities/validate`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });

describe('POST /v1/auth/token', () => {
  it('issues an RFC 9068 token for a JSON body, with no-store', async () => {
    const reply = await requestToken(gateway, credentials);

    expect(reply.status).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: ADMIN_CLIENT.scopes,
    });
    expect(reply.body).not.toHaveProperty('refresh_token');
    const { header, claims } = decodeJwt(String(reply.body.access_token));
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(claims).toMatchObject({
      iss: gateway.url,
      sub: ADMIN_CLIENT.id,
      client_id: ADMIN_CLIENT.id,
      aud: 'blux-api',
      scope: ADMIN_CLIENT.scopes,
    });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
  });

  it('accepts a form body and HTTP Basic credentials, as OAuth clients send them', async () => {
    const form = await fetch(`${gateway.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(credentials).toString(),
    });
    const basic = await fetch(`${gateway.url}/v1/auth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${ADMIN_CLIENT.id}:${ADMIN_CLIENT.secret}`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials&scope=tasks%3Aread',
    });

    expect(form.status).toBe(200);
    expect(basic.status).toBe(200);
    expect(((await basic.json()) as { scope: string }).scope).toBe('tasks:read');
  });

  it('narrows the scopes to those asked for', async () => {
    const reply = await requestToken(gateway, { ...credentials, scope: 'tasks:write tasks:read' });

    expect(reply.body.scope).toBe('tasks:write tasks:read');
  });

  it('refuses a scope outside the client allowance with invalid_scope', async () => {
    const reply = await requestToken(gateway, {
      grant_type: 'client_credentials',
      client_id: 'e2e-reader',
      client_secret: readerSecret,
      scope: 'tasks:write',
    });

    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid_scope' });
  });

  it('answers an unknown client and a wrong secret alike: 401 invalid_client', async () => {
    const unknown = await requestToken(gateway, { ...credentials, client_id: 'nobody-here' });
    const wrong = await requestToken(gateway, { ...credentials, client_secret: 'x'.repeat(40) });

    for (const reply of [unknown, wrong]) {
      expect(reply.status).toBe(401);
      expect(reply.body.audit_id).toMatch(/^aud_[0-9A-Z]{26}$/);
      expect(reply.headers.get('www-authenticate')).toMatch(/^Basic realm="blux"/);
      expect(reply.body.error).toBe('invalid_client');
    }
    expect(unknown.body.error_description).toBe(wrong.body.error_description);
  });

  it('answers grant and request errors in RFC 6749 form', async () => {
    const unsupported = await requestToken(gateway, { ...credentials, grant_type: 'password' });
    const missing = await requestToken(gateway, { client_id: 'a', client_secret: 'b' });
    const malformed = await requestToken(gateway, {}, { body: '{"grant_type":' });

    expect(unsupported).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(malformed).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});

describe('bearer authentication', () => {
  it('refuses a route without a token with 401 and WWW-Authenticate: Bearer', async () => {
    const response = await validate(undefined, { token: 'x' });
    const body = (await response.json()) as { error: Record<string, unknown> };

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(body.error).toMatchObject({ code: 'UNAUTHORIZED', details: { reason: 'missing' } });
    expect(body.error.audit_id).toMatch(/^aud_[0-9A-Z]{26}$/);
  });

  it('refuses a token without the route scope with 403 insufficient_scope', async () => {
    const token = await accessToken(gateway, 'e2e-reader', readerSecret);
    const response = await validate(token, { token });
    const body = (await response.json()) as { error: Record<string, unknown> };

    expect(response.status).toBe(403);
    expect(body.error).toMatchObject({
      code: 'FORBIDDEN',
      details: { reason: 'insufficient_scope', missing: ['identities:validate'] },
    });
  });

  it('refuses forged and expired tokens with 401, never 500', async () => {
    const real = decodeJwt(await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret));
    const unsigned = craftJwt({ ...real.header, alg: 'none' }, real.claims);
    const expired = craftJwt(real.header, { ...real.claims, exp: epochSeconds() - 3600 });

    for (const token of [unsigned, expired, 'not-a-jwt']) {
      const response = await validate(token, { token });
      expect(response.status).toBe(401);
    }
  });
});

describe('POST /v1/identities/validate', () => {
  it('says whom a valid token stands for, its scopes and when it expires', async () => {
    const caller = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
    const subject = await accessToken(gateway, 'e2e-reader', readerSecret);

    const response = await validate(caller, { token: subject, required_scope: ['tasks:read'] });
    const body = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBe(200);
    expect(body).toMatchObject({
      valid: true,
      identity: 'service:e2e-reader',
      scopes: ['tasks:read'],
    });
    expect(Date.parse(String(body.expires_at)) - Date.now()).toBeGreaterThan(3_500_000);
  });

  it('answers valid: false with a reason for a missing scope or a bad token', async () => {
    const caller = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
    const subject = await accessToken(gateway, 'e2e-reader', readerSecret);

    const lacking = await validate(caller, { token: subject, required_scope: ['tasks:write'] });
    const garbage = await validate(caller, { token: 'abc.def.ghi' });

    expect(await lacking.json()).toMatchObject({
      valid: false,
      reason: 'insufficient_scope',
      missing_scopes: ['tasks:write'],
    });
    expect(garbage.status).toBe(200);
    expect(await garbage.json()).toMatchObject({ valid: false, reason: expect.any(String) });
  });

  it('answers a body without a token with VALIDATION_FAILED naming the field', async () => {
    const caller = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
    const response = await validate(caller, { required_scope: [] });
    const body = (await response.json()) as { error: { details: { fields: { field: string }[] } } };

    expect(response.status).toBe(400);
    expect(body.error.details.fields.map((field) => field.field)).toEqual(['body.token']);
  });
});

describe('published keys', () => {
  it('serves a JWKS holding the kid of issued tokens and no private member', async () => {
    const token = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
    const response = await fetch(`${gateway.url}/.well-known/jwks.json`);
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };

    expect(jwks.keys.map((key) => key.kid)).toContain(decodeJwt(token).header.kid);
    expect(jwks.keys.every((key) => key.d === undefined)).toBe(true);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
  });

  it('serves discovery metadata naming the token endpoint and the keys', async () => {
    const response = await fetch(`${gateway.url}/.well-known/openid-configuration`);

    expect(await response.json()).toMatchObject({
      issuer: gateway.url,
      token_endpoint: `${gateway.url}/v1/auth/token`,
      jwks_uri: `${gateway.url}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
    });
  });
});
