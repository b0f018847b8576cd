import {
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { newAuditEntry } from '@shared/audit/audit-ids';
import { auditEntryKey } from '@shared/audit/dynamodb-audit-items';
import { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { TABLE_IDS, physicalTableName } from '@shared/catalog/tables';
import { ConfigurationError } from '@shared/config';
import { ConflictError, NotFoundError, ValidationError } from '@shared/errors/gateway-error';
import { LOCAL_DEV_CLIENT_ID, ensureFirstClient } from '@shared/identity/bootstrap';
import {
  FAILURE_RECORD_TTL_SECONDS,
  FAILURE_WINDOW_SECONDS,
  MAX_FAILURES,
  decideAttempt,
  generateClientSecret,
  registerClient,
  rotateClientSecret,
  verifyClientSecret,
  type ClientStore,
} from '@shared/identity/client-registry';
import {
  ClientStoreError,
  DynamoDbClientStore,
  MAX_TRANSACTION_ITEMS,
} from '@shared/identity/dynamodb-client-store';
import { SCOPE_NAMES } from '@shared/identity/scopes';
import { LOCAL_AWS_ENV } from '@local/dynamodb-local';
import { ensureTables } from '@local/tables';
import { uniqueStage } from '@test/fixtures/local-gateway';

const dynamo = new DynamoDBClient({
  endpoint: inject('dynamoEndpoint'),
  region: LOCAL_AWS_ENV.AWS_REGION,
  credentials: {
    accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  },
});

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (offsetSeconds: number): Date => new Date(T0.getTime() + offsetSeconds * 1_000);

const stagesCreated: string[] = [];

/** A store on a clients table of its own, empty, and the audit table of the same stage. */
const freshStore = async (): Promise<{
  store: DynamoDbClientStore;
  tableName: string;
  auditTable: string;
}> => {
  const stage = uniqueStage('reg');
  stagesCreated.push(stage);
  await ensureTables(dynamo, (id) => physicalTableName(stage, id));
  const tableName = physicalTableName(stage, 'clients');

  return {
    store: new DynamoDbClientStore(dynamo, tableName),
    tableName,
    auditTable: physicalTableName(stage, 'audit'),
  };
};

let store: ClientStore;
let tableName: string;
let serial = 0;

/** A client id no other test in this file uses. */
const newId = (prefix: string): string => `${prefix}-${(serial += 1)}`;

beforeAll(async () => {
  ({ store, tableName } = await freshStore());
});

afterAll(async () => {
  for (const stage of stagesCreated) {
    for (const id of TABLE_IDS) {
      await dynamo.send(new DeleteTableCommand({ TableName: physicalTableName(stage, id) }));
    }
  }
  dynamo.destroy();
});

describe('DynamoDbClientStore profiles', () => {
  it('creates a client and reads it back whole', async () => {
    const clientId = newId('billing');

    const { record, secret } = await registerClient(
      store,
      {
        clientId,
        scopes: ['tasks:read', 'tasks:write'],
        certificateSubjects: ['CN=billing,O=BLUX'],
        rateLimits: { perMinute: 120, perSecond: 5 },
      },
      { now: T0 },
    );
    const stored = await store.get(clientId);

    expect(stored).toEqual(record);
    expect(stored?.rateLimits).toEqual({ perMinute: 120, perSecond: 5 });
    await expect(verifyClientSecret(stored, secret, T0)).resolves.toBe(true);
  });

  it('answers undefined for an unknown id', async () => {
    await expect(store.get('nobody-here')).resolves.toBeUndefined();
  });

  it('refuses to create an id twice, keeping the first client', async () => {
    const clientId = newId('twice');
    const first = await registerClient(store, { clientId, scopes: ['tasks:read'] }, { now: T0 });

    const second = registerClient(store, { clientId, scopes: SCOPE_NAMES }, { now: at(1) });

    await expect(second).rejects.toBeInstanceOf(ConflictError);
    await expect(second).rejects.toMatchObject({ code: 'CONFLICT', details: { clientId } });
    const stored = await store.get(clientId);
    expect(stored?.scopes).toEqual(['tasks:read']);
    await expect(verifyClientSecret(stored, first.secret, T0)).resolves.toBe(true);
  });

  it('refuses a certificate subject held by another client and writes nothing', async () => {
    const subject = `CN=${newId('shared')},O=BLUX`;
    await registerClient(store, { clientId: newId('holder'), certificateSubjects: [subject] });
    const clientId = newId('taker');

    const taking = registerClient(store, {
      clientId,
      certificateSubjects: ['CN=free,O=BLUX', subject],
    });

    await expect(taking).rejects.toMatchObject({
      name: 'ConflictError',
      details: { certificateSubject: subject },
    });
    await expect(store.get(clientId)).resolves.toBeUndefined();
    await expect(store.findByCertificateSubject('CN=free,O=BLUX')).resolves.toBeUndefined();
  });

  it('finds a client by its certificate subject', async () => {
    const clientId = newId('mtls');
    const subject = `CN=${clientId},OU=Workers,O=BLUX`;
    await registerClient(store, { clientId, certificateSubjects: [subject, 'CN=other-name'] });

    const found = await store.findByCertificateSubject(subject);
    const trimmed = await store.findByCertificateSubject(`  ${subject} `);

    expect(found?.clientId).toBe(clientId);
    expect(trimmed?.clientId).toBe(clientId);
    await expect(store.findByCertificateSubject('CN=nobody')).resolves.toBeUndefined();
  });

  it('lists clients page by page, without mappings or counters, each once', async () => {
    const ids = [newId('page'), newId('page'), newId('page'), newId('page'), newId('page')];
    for (const clientId of ids) {
      await registerClient(store, { clientId, certificateSubjects: [`CN=${clientId}`] });
      await store.recordFailure(clientId, T0);
    }

    const listed: string[] = [];
    const pageSizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 2, cursor });
      listed.push(...page.clients.map((client) => client.clientId));
      pageSizes.push(page.clients.length);
      cursor = page.cursor;
    } while (cursor !== undefined);
    const all = await store.list({ limit: 100 });

    expect(listed).toEqual(expect.arrayContaining(ids));
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.sort()).toEqual(all.clients.map((client) => client.clientId).sort());
    expect(Math.max(...pageSizes)).toBe(2);
    expect(all.cursor).toBeUndefined();
  });

  it('refuses a cursor it did not make', async () => {
    await expect(store.list({ cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.list({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('DynamoDbClientStore changes', () => {
  it('keeps the old secret valid during the grace period of a rotation', async () => {
    const clientId = newId('rotating');
    const first = await registerClient(store, { clientId }, { now: T0 });

    const second = await rotateClientSecret(store, clientId, { now: at(10), graceSeconds: 3_600 });
    const stored = await store.get(clientId);

    expect(second.secret).not.toBe(first.secret);
    expect(stored?.secrets).toHaveLength(2);
    expect(stored?.updatedAt).toBe(at(10).toISOString());
    await expect(verifyClientSecret(stored, second.secret, at(11))).resolves.toBe(true);
    await expect(verifyClientSecret(stored, first.secret, at(3_609))).resolves.toBe(true);
    await expect(verifyClientSecret(stored, first.secret, at(3_610))).resolves.toBe(false);
  });

  it('changes scopes and removes rate limits in place', async () => {
    const clientId = newId('changing');
    await registerClient(store, { clientId, scopes: ['tasks:read'], rateLimits: { perSecond: 3 } });

    const changed = await store.update(
      clientId,
      { scopes: ['audit:read', 'audit:read'], rateLimits: null },
      at(5),
    );

    expect(changed.scopes).toEqual(['audit:read']);
    expect(changed.rateLimits).toBeUndefined();
    await expect(store.get(clientId)).resolves.toEqual(changed);
    await expect(store.update(clientId, { scopes: ['tasks:writer'] }, T0)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('disables a client, whose secret and certificate then no longer pass', async () => {
    const clientId = newId('leaving');
    const subject = `CN=${clientId}`;
    const { secret } = await registerClient(store, { clientId, certificateSubjects: [subject] });

    const disabled = await store.disable(clientId, at(1));
    const stored = await store.get(clientId);

    expect(disabled.status).toBe('disabled');
    expect(stored?.status).toBe('disabled');
    await expect(verifyClientSecret(stored, secret, at(2))).resolves.toBe(false);
    await expect(store.findByCertificateSubject(subject)).resolves.toMatchObject({
      clientId,
      status: 'disabled',
    });
  });

  it('answers NOT_FOUND when rotating, changing or disabling an unknown id', async () => {
    await expect(rotateClientSecret(store, 'ghost-client')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.disable('ghost-client', T0)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.update('ghost-client', { scopes: [] }, T0)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(store.get('ghost-client')).resolves.toBeUndefined();
  });
});

describe('DynamoDbClientStore failure counting', () => {
  it('counts fifty parallel failures as exactly fifty', async () => {
    const clientId = newId('noisy');

    const states = await Promise.all(
      Array.from({ length: 50 }, () => store.recordFailure(clientId, T0)),
    );
    const stored = await store.getFailures(clientId);

    expect(stored?.count).toBe(50);
    expect(states.map((state) => state.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, index) => index + 1),
    );
  });

  it('restarts the count exactly once when parallel failures find the window passed', async () => {
    const clientId = newId('restart');
    await store.recordFailure(clientId, T0);
    await store.recordFailure(clientId, at(1));
    const later = at(FAILURE_WINDOW_SECONDS + 5);

    await Promise.all(Array.from({ length: 20 }, () => store.recordFailure(clientId, later)));
    const stored = await store.getFailures(clientId);

    expect(stored).toEqual({
      count: 20,
      windowStartedAtMs: later.getTime(),
      lastFailureAtMs: later.getTime(),
    });
  });

  it('locks a client out after MAX_FAILURES and clears on success', async () => {
    const clientId = newId('locked');
    for (let index = 0; index < MAX_FAILURES; index += 1) {
      await store.recordFailure(clientId, at(index));
    }

    const locked = decideAttempt(await store.getFailures(clientId), at(MAX_FAILURES));
    await store.clearFailures(clientId);
    const cleared = await store.getFailures(clientId);

    expect(locked.allowed).toBe(false);
    expect(cleared).toBeUndefined();
    expect(decideAttempt(cleared, at(MAX_FAILURES))).toEqual({ allowed: true, delayMs: 0 });
  });

  it('sets a TTL on the counter for clean-up only', async () => {
    const clientId = newId('ttl');

    await store.recordFailure(clientId, T0);
    const raw = await dynamo.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: `client#${clientId}` }, sk: { S: 'failures' } },
      }),
    );

    expect(Number(raw.Item?.expires_at?.N)).toBe(T0.getTime() / 1_000 + FAILURE_RECORD_TTL_SECONDS);
  });
});

describe('ensureFirstClient', () => {
  it('creates local-dev with every scope once, when no client exists', async () => {
    const { store: empty } = await freshStore();

    const first = await ensureFirstClient(empty, {}, T0);
    const again = await ensureFirstClient(empty, {}, at(60));
    const page = await empty.list();

    expect(first).toEqual({
      clientId: LOCAL_DEV_CLIENT_ID,
      secret: expect.any(String),
      created: true,
    });
    expect(again).toEqual({ clientId: LOCAL_DEV_CLIENT_ID, created: false });
    expect(page.clients).toHaveLength(1);
    expect(page.clients[0]?.scopes).toEqual(SCOPE_NAMES);
    await expect(verifyClientSecret(page.clients[0], first.secret ?? '', at(60))).resolves.toBe(
      true,
    );
  });

  it('creates no local-dev when another client exists', async () => {
    const { store: taken } = await freshStore();
    await registerClient(taken, { clientId: 'already-here' });

    const result = await ensureFirstClient(taken, {}, T0);

    expect(result).toEqual({ clientId: 'already-here', created: false });
    await expect(taken.get(LOCAL_DEV_CLIENT_ID)).resolves.toBeUndefined();
  });

  it('makes sure of the named client, changing nothing on a restart', async () => {
    const { store: named } = await freshStore();
    const secret = generateClientSecret();
    const env = {
      BLUX_CLIENT_ID: 'svc-local',
      BLUX_CLIENT_SECRET: secret,
      BLUX_CLIENT_SCOPES: ' tasks:read  tasks:write ',
    };

    const first = await ensureFirstClient(named, env, T0);
    const stored = await named.get('svc-local');
    const again = await ensureFirstClient(named, env, at(60));

    expect(first).toEqual({ clientId: 'svc-local', secret, created: true });
    expect(again).toEqual({ clientId: 'svc-local', secret, created: false });
    expect(stored?.scopes).toEqual(['tasks:read', 'tasks:write']);
    await expect(named.get('svc-local')).resolves.toEqual(stored);
  });

  it('applies a changed secret and changed scopes to the existing client', async () => {
    const { store: named } = await freshStore();
    const oldSecret = generateClientSecret();
    const newSecret = generateClientSecret();
    await ensureFirstClient(named, { BLUX_CLIENT_ID: 'svc-x', BLUX_CLIENT_SECRET: oldSecret }, T0);

    const result = await ensureFirstClient(
      named,
      { BLUX_CLIENT_ID: 'svc-x', BLUX_CLIENT_SECRET: newSecret, BLUX_CLIENT_SCOPES: 'audit:read' },
      at(60),
    );
    const stored = await named.get('svc-x');

    expect(result).toEqual({ clientId: 'svc-x', secret: newSecret, created: false });
    expect(stored?.scopes).toEqual(['audit:read']);
    await expect(verifyClientSecret(stored, newSecret, at(61))).resolves.toBe(true);
    await expect(verifyClientSecret(stored, oldSecret, at(61))).resolves.toBe(false);
  });

  it('generates a secret for a new named client and shows none for an existing one', async () => {
    const { store: named } = await freshStore();

    const first = await ensureFirstClient(named, { BLUX_CLIENT_ID: 'svc-gen' }, T0);
    const again = await ensureFirstClient(named, { BLUX_CLIENT_ID: 'svc-gen' }, at(1));

    expect(first.created).toBe(true);
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(again).toEqual({ clientId: 'svc-gen', created: false });
    expect((await named.get('svc-gen'))?.scopes).toEqual(SCOPE_NAMES);
  });

  it.each([
    [{ BLUX_CLIENT_ID: 'Not Valid' }, /BLUX_CLIENT_ID must match/],
    [{ BLUX_CLIENT_ID: 'svc-ok', BLUX_CLIENT_SECRET: 'too-short' }, /BLUX_CLIENT_SECRET must be/],
    [
      { BLUX_CLIENT_ID: 'svc-ok', BLUX_CLIENT_SCOPES: 'tasks:writer' },
      /unknown scopes \(tasks:writer\)/,
    ],
    [{ BLUX_CLIENT_SECRET: generateClientSecret() }, /BLUX_CLIENT_ID is needed/],
  ])('refuses the environment %j with a clear error', async (env, message) => {
    const attempt = ensureFirstClient(store, env, T0);

    await expect(attempt).rejects.toBeInstanceOf(ConfigurationError);
    await expect(attempt).rejects.toThrow(message);
    await expect(store.get('svc-ok')).resolves.toBeUndefined();
  });

  it('refuses a named client that is disabled', async () => {
    const { store: named } = await freshStore();
    await ensureFirstClient(named, { BLUX_CLIENT_ID: 'svc-off' }, T0);
    await named.disable('svc-off', at(1));

    const attempt = ensureFirstClient(named, { BLUX_CLIENT_ID: 'svc-off' }, at(2));

    await expect(attempt).rejects.toThrow(/is disabled/);
  });
});

describe('DynamoDbClientStore changes written with their audit entries', () => {
  let clients: DynamoDbClientStore;
  let audit: DynamoDbAuditStore;
  let auditTable: string;

  beforeAll(async () => {
    ({ store: clients, auditTable } = await freshStore());
    audit = new DynamoDbAuditStore(dynamo, auditTable);
  });

  const entryFor = (operation: string, clientId: string, now = T0): UnsealedAuditEntry =>
    newAuditEntry(
      {
        service: 'blux-reg',
        operation,
        identity: 'operator:test',
        outcome: 'success',
        requestId: `req-${clientId}-${operation}`,
        resource: { type: 'client', id: clientId },
      },
      now,
    );

  const entryExists = async (entry: UnsealedAuditEntry): Promise<boolean> => {
    const result = await dynamo.send(
      new GetItemCommand({
        TableName: auditTable,
        Key: auditEntryKey(entry.audit_id),
        ConsistentRead: true,
      }),
    );

    return result.Item !== undefined;
  };

  /** An entry already in the table: putting it again fails its condition. */
  const takenEntry = async (operation: string, clientId: string): Promise<UnsealedAuditEntry> => {
    const entry = entryFor(operation, clientId);
    await audit.append(entry);

    return entry;
  };

  it('writes the creation, rotation and disabling together with their entries', async () => {
    const clientId = newId('audited');
    const created = entryFor('client.create', clientId);
    const rotated = entryFor('client.rotate', clientId, at(1));
    const disabled = entryFor('client.disable', clientId, at(2));

    await registerClient(
      { create: (record) => clients.create(record, [audit.putItem(created)]) },
      { clientId, certificateSubjects: [`CN=${clientId}`] },
      { now: T0 },
    );
    const afterRotation = await clients.rotateSecret(
      clientId,
      'hash-two',
      { now: at(1), graceSeconds: 60 },
      [audit.putItem(rotated)],
    );
    const afterDisabling = await clients.disable(clientId, at(2), [audit.putItem(disabled)]);

    expect(afterRotation.secrets.map((secret) => secret.hash)[0]).toBe('hash-two');
    expect(afterRotation.updatedAt).toBe(at(1).toISOString());
    expect(afterDisabling.status).toBe('disabled');
    await expect(clients.get(clientId)).resolves.toEqual(afterDisabling);
    await expect(entryExists(created)).resolves.toBe(true);
    await expect(entryExists(rotated)).resolves.toBe(true);
    await expect(entryExists(disabled)).resolves.toBe(true);
  });

  it('creates no client and no mapping when its audit put fails', async () => {
    const clientId = newId('unaudited');
    const subject = `CN=${clientId}`;
    const taken = await takenEntry('client.create', clientId);

    const creation = registerClient(
      { create: (record) => clients.create(record, [audit.putItem(taken)]) },
      { clientId, certificateSubjects: [subject] },
      { now: T0 },
    );

    await expect(creation).rejects.toBeInstanceOf(TransactionCanceledException);
    await expect(clients.get(clientId)).resolves.toBeUndefined();
    await expect(clients.findByCertificateSubject(subject)).resolves.toBeUndefined();
  });

  it('rotates and disables nothing when the audit put fails', async () => {
    const clientId = newId('unaudited');
    await registerClient(clients, { clientId }, { now: T0 });
    const before = await clients.get(clientId);
    const taken = await takenEntry('client.rotate', clientId);

    const rotation = clients.rotateSecret(clientId, 'hash-two', { now: at(1), graceSeconds: 60 }, [
      audit.putItem(taken),
    ]);
    await expect(rotation).rejects.toBeInstanceOf(TransactionCanceledException);
    const disabling = clients.disable(clientId, at(2), [audit.putItem(taken)]);
    await expect(disabling).rejects.toBeInstanceOf(TransactionCanceledException);

    await expect(clients.get(clientId)).resolves.toEqual(before);
  });

  it('keeps the conflict and not-found answers, writing no entry with them', async () => {
    const clientId = newId('existing');
    await registerClient(clients, { clientId }, { now: T0 });
    const duplicate = entryFor('client.create', clientId, at(1));
    const ghost = entryFor('client.disable', 'ghost-client', at(2));

    const creation = registerClient(
      { create: (record) => clients.create(record, [audit.putItem(duplicate)]) },
      { clientId },
      { now: at(1) },
    );
    await expect(creation).rejects.toBeInstanceOf(ConflictError);
    const disabling = clients.disable('ghost-client', at(2), [audit.putItem(ghost)]);
    await expect(disabling).rejects.toBeInstanceOf(NotFoundError);

    await expect(entryExists(duplicate)).resolves.toBe(false);
    await expect(entryExists(ghost)).resolves.toBe(false);
  });

  it('refuses, before writing, a change with more items than one transaction holds', async () => {
    const clientId = newId('crowded');
    const subjects = Array.from({ length: 10 }, (_, index) => `CN=${clientId}-${index}`);
    // The profile and its ten mappings, plus enough entries to pass the limit by one.
    const entries = Array.from({ length: MAX_TRANSACTION_ITEMS - 10 }, (_, index) =>
      entryFor('client.create', `${clientId}-${index}`),
    );

    const creation = registerClient(
      {
        create: (record) =>
          clients.create(
            record,
            entries.map((entry) => audit.putItem(entry)),
          ),
      },
      { clientId, certificateSubjects: subjects },
      { now: T0 },
    );

    await expect(creation).rejects.toMatchObject({
      name: 'ClientStoreError',
      code: 'clientStore.tooManyTransactionItems',
    });
    await expect(creation).rejects.toBeInstanceOf(ClientStoreError);
    await expect(clients.get(clientId)).resolves.toBeUndefined();
  });
});
