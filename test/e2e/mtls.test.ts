import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import {
  createMutualTlsMaterial,
  type KeyPair,
  type MutualTlsMaterial,
} from '@test/fixtures/certificates';
import { registerTestClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';

let material: MutualTlsMaterial;
let gateway: LocalGateway;

beforeAll(async () => {
  material = createMutualTlsMaterial();
  gateway = await startTestGateway({
    mtls: { port: 0, ca: material.trustedCa.cert, ...material.server },
  });
  await registerTestClient(gateway, {
    clientId: 'billing',
    scopes: ['identities:validate'],
    certificateSubjects: [material.clientSubject],
  });
});

afterAll(async () => {
  await gateway.stop();
});

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const send = (method: string, path: string, client?: KeyPair, body?: unknown): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const outgoing = request(
      `${gateway.mtlsUrl}${path}`,
      {
        method,
        ca: material.trustedCa.cert,
        headers: { 'content-type': 'application/json' },
        ...(client ?? {}),
      },
      (incoming) => {
        let text = '';
        incoming.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        incoming.on('end', () =>
          resolve({
            status: incoming.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });

const get = (path: string, client?: KeyPair): Promise<Reply> => send('GET', path, client);

describe('the mutual-TLS listener', () => {
  it('serves a client whose certificate the trusted CA signed', async () => {
    const reply = await get('/health', material.client);

    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe('healthy');
  });

  it('refuses a certificate from another CA with 403 in the envelope', async () => {
    const reply = await get('/health', material.strangerClient);

    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });

  it('refuses a request without a certificate with 403 certificate_required', async () => {
    const reply = await get('/health');

    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({
      error: { code: 'FORBIDDEN', details: { reason: 'certificate_required' } },
    });
  });

  it('maps a registered certificate subject to its client and scopes', async () => {
    const reply = await send('POST', '/v1/identities/validate', material.client, {
      token: 'x.y.z',
    });

    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ valid: false });
  });

  it('refuses a trusted certificate whose subject no client registers with 401', async () => {
    const reply = await send('POST', '/v1/identities/validate', material.unregisteredClient, {
      token: 'x.y.z',
    });

    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({
      error: { code: 'UNAUTHORIZED', details: { reason: 'unknown_certificate' } },
    });
  });
});
