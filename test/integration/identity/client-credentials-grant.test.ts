import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import { ClientLockedError, OAuthError } from '@shared/errors/oauth-error';
import { grantClientCredentials } from '@shared/identity/client-credentials-grant';
import { MAX_FAILURES, registerClient } from '@shared/identity/client-registry';
import { DynamoDbClientStore } from '@shared/identity/dynamodb-client-store';
import type { TokenKeySource } from '@shared/identity/token-keys';
import { openLocalKeyRing } from '@shared/identity/tokens/local-key-ring';
import { ensureTables } from '@local/tables';
import { uniqueStage } from '@test/fixtures/local-gateway';

let client: DynamoDBClient;
let store: DynamoDbClientStore;
let keys: TokenKeySource;

beforeAll(async () => {
  client = new DynamoDBClient({ endpoint: inject('dynamoEndpoint') });
  const stage = uniqueStage('grant');
  await ensureTables(client, (id) => physicalTableName(stage, id));
  store = new DynamoDbClientStore(client, physicalTableName(stage, 'clients'));
  const ring = await openLocalKeyRing();
  keys = {
    activeKey: async () => ring.activeKey(),
    publishedKeys: async () => ring.publishedKeys(),
  };
});

afterAll(() => {
  client.destroy();
});

const grant = (clientId: string, clientSecret: string, delays: number[] = []) =>
  grantClientCredentials(
    { clientId, clientSecret, scopes: undefined, authentication: 'body' },
    {
      clients: store,
      keys,
      issuer: 'http://gateway.test',
      audience: 'blux-api',
      sleep: async (ms) => {
        delays.push(ms);
      },
    },
  );

describe('the client-credentials grant against the client registry', () => {
  it('slows repeated failures down, then refuses even the right secret for a while', async () => {
    const { secret } = await registerClient(store, {
      clientId: 'locked-out',
      scopes: ['tasks:read'],
    });
    const delays: number[] = [];

    for (let attempt = 0; attempt < MAX_FAILURES; attempt += 1) {
      await expect(grant('locked-out', 'w'.repeat(40), delays)).rejects.toBeInstanceOf(OAuthError);
    }
    const refused = grant('locked-out', secret, delays);

    await expect(refused).rejects.toBeInstanceOf(ClientLockedError);
    expect(delays.length).toBeGreaterThan(0);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
  });

  it('clears the failure count after a success', async () => {
    const { secret } = await registerClient(store, {
      clientId: 'forgetful',
      scopes: ['tasks:read'],
    });
    await expect(grant('forgetful', 'w'.repeat(40))).rejects.toBeInstanceOf(OAuthError);

    await grant('forgetful', secret);

    expect(await store.getFailures('forgetful')).toBeUndefined();
  });

  it('refuses a disabled client like an unknown one', async () => {
    const { secret } = await registerClient(store, { clientId: 'retired', scopes: ['tasks:read'] });
    await store.disable('retired', new Date());

    const disabled = await grant('retired', secret).catch((error: unknown) => error);
    const unknown = await grant('never-registered', secret).catch((error: unknown) => error);

    expect(disabled).toBeInstanceOf(OAuthError);
    expect(unknown).toBeInstanceOf(OAuthError);
    expect((disabled as OAuthError).oauthCode).toBe('invalid_client');
    expect((disabled as OAuthError).message).toBe((unknown as OAuthError).message);
  });
});
