import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import {
  createMutualTlsMaterial,
  type KeyPair,
  type MutualTlsMaterial,
} from '@test/fixtures/certificates';
import { startTestGateway } from '@test/fixtures/local-gateway';

let material: MutualTlsMaterial;
let gateway: LocalGateway;

beforeAll(async () => {
  material = createMutualTlsMaterial();
  gateway = await startTestGateway({
    mtls: { port: 0, ca: material.trustedCa.cert, ...material.server },
  });
});

afterAll(async () => {
  await gateway.stop();
});

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const get = (path: string, client?: KeyPair): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const outgoing = request(
      `${gateway.mtlsUrl}${path}`,
      { ca: material.trustedCa.cert, ...(client ?? {}) },
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
    outgoing.end();
  });

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
});
