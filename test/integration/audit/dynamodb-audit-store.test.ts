import {
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import type { AuditOrder, AuditQuery, StoredAuditEntry } from '@shared/audit/audit-store';
import { auditEntryKey, auditTsId } from '@shared/audit/dynamodb-audit-items';
import type { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { physicalTableName } from '@shared/catalog/tables';
import { ConflictError } from '@shared/errors/gateway-error';
import { auditEntryAt, createAuditTables, type AuditTables } from '@test/fixtures/audit';

// Entries over five days of March 2026, the 11th left empty, so that windows span days with
// and without entries. Listings run with the clock at NOW and a retention of 20 days, so that
// their default window holds every entry and stays short to walk.
const NOW = new Date('2026-03-14T12:00:00.000Z');
const DAYS = ['2026-03-09', '2026-03-10', '2026-03-12', '2026-03-13'];
const SERVICES = ['blux-lite', 'blux-guard', 'blux-reg'] as const;
const OPERATIONS = ['task.create', 'auth.token', 'task.cancel', 'rate_limit.exceeded'];
const IDENTITIES = ['service:alpha', 'service:beta', 'user:gamma'];

let tables: AuditTables;
let store: DynamoDbAuditStore;
let writer: DynamoDbAuditStore;
const written: UnsealedAuditEntry[] = [];

const entryAt = (day: string, index: number): UnsealedAuditEntry =>
  auditEntryAt(new Date(`${day}T${String(index % 24).padStart(2, '0')}:07:00.000Z`), {
    service: SERVICES[index % 3],
    operation: OPERATIONS[index % 4] as string,
    // Pairs of entries share an identity, so that identities do not follow the services.
    identity: IDENTITIES[Math.floor(index / 2) % 3] as string,
    requestId: `req-${day}-${index}`,
  });

beforeAll(async () => {
  tables = await createAuditTables(inject('dynamoEndpoint'), 'auditstore');
  store = tables.store({ now: () => NOW, retentionDays: 20 });
  writer = tables.store({ retentionDays: 400 });
  for (const day of DAYS) {
    for (let index = 0; index < 30; index += 1) {
      written.push(entryAt(day, index));
    }
  }
  // Two entries a millisecond apart at the edges of a window used below.
  written.push(auditEntryAt(new Date('2026-03-10T06:00:00.000Z'), { requestId: 'req-at-since' }));
  written.push(auditEntryAt(new Date('2026-03-12T06:00:00.000Z'), { requestId: 'req-at-until' }));
  await Promise.all(written.map((entry) => writer.append(entry)));
});

afterAll(() => {
  tables.client.destroy();
});

// Far more than any listing here takes; a cursor that never ends fails the test instead of hanging.
const MAX_PAGES = 1_000;

// A window around the data, so that listings need not walk the whole default window.
const MARCH = new Date('2026-03-01T00:00:00.000Z');

const ids = (entries: readonly StoredAuditEntry[]): string[] => entries.map((e) => e.audit_id);

/** What a listing must give: the matching entries in the window, in order. */
const expected = (query: Omit<AuditQuery, 'limit'>): string[] => {
  const since = (query.since ?? new Date(0)).toISOString();
  const until = (query.until ?? NOW).toISOString();
  const matching = written
    .filter(
      (entry) =>
        (query.service === undefined || entry.service === query.service) &&
        (query.operation === undefined || entry.operation === query.operation) &&
        (query.identity === undefined || entry.identity === query.identity) &&
        entry.timestamp >= since &&
        entry.timestamp < until,
    )
    .sort((a, b) => (auditTsId(a) < auditTsId(b) ? -1 : 1));

  return ids(query.order === 'asc' ? matching : matching.reverse());
};

/** Every page of a listing, concatenated, with the number of pages it took. */
const listAll = async (
  query: Omit<AuditQuery, 'cursor'>,
  from: DynamoDbAuditStore = store,
): Promise<{ ids: string[]; pages: number }> => {
  const all: string[] = [];
  let cursor: AuditQuery['cursor'];
  let pages = 0;
  do {
    const page = await from.query({ ...query, cursor });
    expect(page.entries.length).toBeLessThanOrEqual(query.limit);
    all.push(...ids(page.entries));
    cursor = page.cursor;
    pages += 1;
  } while (cursor !== undefined && pages < MAX_PAGES);

  return { ids: all, pages };
};

describe('the DynamoDB audit store', () => {
  it('lists newest first in desc order and oldest first in asc order', async () => {
    const desc = await store.query({ limit: 20, order: 'desc' });
    const asc = await store.query({ limit: 20, order: 'asc' });

    expect(ids(desc.entries)).toEqual(expected({ order: 'desc' }).slice(0, 20));
    expect(ids(asc.entries)).toEqual(expected({ order: 'asc' }).slice(0, 20));
    expect(desc.entries[0]?.timestamp.startsWith('2026-03-13')).toBe(true);
    expect(asc.entries[0]?.timestamp.startsWith('2026-03-09')).toBe(true);
  });

  it('returns at most limit entries, and a cursor while more remain', async () => {
    const page = await store.query({ limit: 7, order: 'desc' });
    const all = await store.query({ limit: 500, order: 'desc' });

    expect(page.entries).toHaveLength(7);
    expect(page.cursor).toBeDefined();
    expect(all.entries).toHaveLength(written.length);
    expect(all.cursor).toBeUndefined();
  });

  it.each([
    { service: 'blux-guard' as const },
    { operation: 'auth.token' },
    { identity: 'service:beta' },
    { service: 'blux-lite' as const, operation: 'task.create' },
    { identity: 'user:gamma', operation: 'task.cancel' },
    { identity: 'service:alpha', service: 'blux-guard' as const, operation: 'auth.token' },
  ])('filters by %o, alone or together', async (filters) => {
    const page = await store.query({ ...filters, limit: 500, order: 'asc' });

    expect(page.entries.length).toBeGreaterThan(0);
    expect(ids(page.entries)).toEqual(expected({ ...filters, order: 'asc' }));
  });

  it('keeps since inclusive and until exclusive', async () => {
    const since = new Date('2026-03-10T06:00:00.000Z');
    const until = new Date('2026-03-12T06:00:00.000Z');
    const page = await store.query({ since, until, limit: 500, order: 'asc' });
    const requests = page.entries.map((entry) => entry.request_id);

    expect(requests).toContain('req-at-since');
    expect(requests).not.toContain('req-at-until');
    expect(ids(page.entries)).toEqual(expected({ since, until, order: 'asc' }));
  });

  it('gives an empty last page for a window with nothing in it', async () => {
    const since = new Date('2026-03-11T00:00:00.000Z');
    const page = await store.query({
      since,
      until: new Date('2026-03-12T00:00:00.000Z'),
      limit: 5,
      order: 'desc',
    });

    expect(page).toEqual({ entries: [] });
  });

  it('reads entries back with every field as written', async () => {
    const page = await store.query({ identity: 'service:alpha', limit: 500, order: 'asc' });
    const original = written.find((entry) => entry.audit_id === page.entries[0]?.audit_id);

    expect(page.entries[0]).toEqual(original);
    expect(original?.details).toEqual({
      priority: 3,
      urgent: false,
      note: 'from a test',
      previous: null,
    });
  });

  const pagings: Array<{ name: string; filters: Partial<AuditQuery>; order: AuditOrder }> = [
    { name: 'every entry, newest first', filters: {}, order: 'desc' },
    { name: 'every entry of March, oldest first', filters: { since: MARCH }, order: 'asc' },
    { name: 'one service', filters: { service: 'blux-reg', since: MARCH }, order: 'desc' },
    {
      name: 'one identity and operation, in a window',
      filters: {
        identity: 'service:alpha',
        operation: 'task.create',
        since: new Date('2026-03-10T00:00:00.000Z'),
      },
      order: 'asc',
    },
  ];

  it.each(pagings)('pages through $name, giving each entry exactly once', async (paging) => {
    const listing = await listAll({ ...paging.filters, limit: 7, order: paging.order });
    const wanted = expected({ ...paging.filters, order: paging.order });

    expect(wanted.length).toBeGreaterThan(7);
    expect(listing.ids).toEqual(wanted);
    expect(new Set(listing.ids).size).toBe(listing.ids.length);
  });

  it('gives each entry exactly once when the read budget cuts pages short', async () => {
    const frugal = tables.store({ now: () => NOW, retentionDays: 20, maxQueriesPerPage: 8 });

    const desc = await listAll({ since: MARCH, limit: 11, order: 'desc' }, frugal);
    const gamma = { identity: 'user:gamma', operation: 'auth.token' };
    const filtered = await listAll({ ...gamma, limit: 3, order: 'asc' }, frugal);

    expect(desc.ids).toEqual(expected({ since: MARCH, order: 'desc' }));
    expect(filtered.ids).toEqual(expected({ ...gamma, order: 'asc' }));
    // One round of reads a page reads at most one day a page: quiet days give short pages.
    expect(desc.pages).toBeGreaterThan(Math.ceil(written.length / 11));
  });

  it('serves each filter combination by its most selective index, never by a scan', async () => {
    const sent: Array<{ command: string; index?: string }> = [];
    const send = tables.client.send.bind(tables.client);
    const spy = tables.store({ now: () => NOW, retentionDays: 20 });
    (tables.client as { send: unknown }).send = (command: { input: { IndexName?: string } }) => {
      sent.push({ command: command.constructor.name, index: command.input.IndexName });

      return send(command as never);
    };
    const indexesOf = async (query: Partial<AuditQuery>): Promise<string[]> => {
      sent.length = 0;
      await spy.query({ ...query, limit: 5, order: 'desc' });

      return [...new Set(sent.map((call) => `${call.command}:${call.index}`))];
    };

    try {
      expect(await indexesOf({})).toEqual(['QueryCommand:by_time']);
      expect(await indexesOf({ service: 'blux-lite' })).toEqual(['QueryCommand:by_service']);
      expect(await indexesOf({ service: 'blux-lite', operation: 'task.create' })).toEqual([
        'QueryCommand:by_operation',
      ]);
      expect(await indexesOf({ operation: 'task.create', identity: 'service:beta' })).toEqual([
        'QueryCommand:by_identity',
      ]);
    } finally {
      (tables.client as { send: unknown }).send = send;
    }
  });

  it('refuses a second entry with the same id as a conflict', async () => {
    const entry = auditEntryAt(NOW, { requestId: 'req-twice' });
    await writer.append(entry);

    await expect(writer.append({ ...entry, request_id: 'req-overwrite' })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });
});

describe('an audited action written with its entry in one transaction', () => {
  const taskKey = { pk: { S: 'task#tsk_audited' }, sk: { S: 'task' } };

  const writeTaskAndEntry = (entry: UnsealedAuditEntry, condition: string) =>
    tables.client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Put: {
              TableName: physicalTableName(tables.stage, 'tasks'),
              Item: { ...taskKey, status: { S: 'running' } },
              ConditionExpression: condition,
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':queued': { S: 'queued' } },
            },
          },
          writer.putItem(entry),
        ],
      }),
    );

  const itemOf = async (table: string, key: Record<string, { S: string }>) =>
    (
      await tables.client.send(
        new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }),
      )
    ).Item;

  it('An audited action whose write fails leaves neither the action nor the entry', async () => {
    await tables.client.send(
      new PutItemCommand({
        TableName: physicalTableName(tables.stage, 'tasks'),
        Item: { ...taskKey, status: { S: 'cancelled' } },
      }),
    );
    const entry = auditEntryAt(NOW, { operation: 'task.execute', requestId: 'req-failed' });

    const write = writeTaskAndEntry(entry, '#status = :queued');

    await expect(write).rejects.toBeInstanceOf(TransactionCanceledException);
    const task = await itemOf(physicalTableName(tables.stage, 'tasks'), taskKey);
    expect(task?.status?.S).toBe('cancelled');
    expect(await itemOf(tables.auditTable, auditEntryKey(entry.audit_id) as never)).toBeUndefined();
  });

  it('writes both the action and its entry when the action may happen', async () => {
    await tables.client.send(
      new PutItemCommand({
        TableName: physicalTableName(tables.stage, 'tasks'),
        Item: { ...taskKey, status: { S: 'queued' } },
      }),
    );
    const entry = auditEntryAt(NOW, { operation: 'task.execute', requestId: 'req-passed' });

    await writeTaskAndEntry(entry, '#status = :queued');

    const task = await itemOf(physicalTableName(tables.stage, 'tasks'), taskKey);
    expect(task?.status?.S).toBe('running');
    const stored = await itemOf(tables.auditTable, auditEntryKey(entry.audit_id) as never);
    expect(stored?.request_id?.S).toBe('req-passed');
    expect(stored?.expires_at?.N).toBe(String(Math.floor(NOW.getTime() / 1000) + 400 * 86_400));
  });
});
