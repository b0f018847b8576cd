import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import {
  auditListQuerySchema,
  listAuditEntries,
  type AuditListPage,
  type ListAuditEntriesDependencies,
} from '@shared/audit/audit-listing';
import { ValidationError } from '@shared/errors/gateway-error';
import { parseOrThrow } from '@shared/validation/schema';
import { auditEntryAt, createAuditTables, type AuditTables } from '@test/fixtures/audit';

const NOW = new Date('2026-05-20T10:00:00.000Z');
const READER = 'service:auditor';

let tables: AuditTables;
let dependencies: ListAuditEntriesDependencies;
const written: UnsealedAuditEntry[] = [];

beforeAll(async () => {
  tables = await createAuditTables(inject('dynamoEndpoint'), 'auditlist');
  dependencies = {
    entries: tables.store({ now: () => NOW, retentionDays: 10 }),
    checkpoints: tables.checkpoints(),
    pageTokenSecret: 'test-page-token-secret-0123456789abcdef',
  };
  for (let index = 0; index < 45; index += 1) {
    written.push(
      auditEntryAt(new Date(Date.UTC(2026, 4, 18, index % 24, index)), {
        service: index % 3 === 0 ? 'blux-reg' : 'blux-lite',
        requestId: `req-list-${index}`,
      }),
    );
  }
  await Promise.all(written.map((entry) => tables.store().append(entry)));
});

afterAll(() => {
  tables.client.destroy();
});

/** A page for `parameters` as the query string would hold them. */
const list = (parameters: Record<string, string>, caller = READER): Promise<AuditListPage> =>
  listAuditEntries(parseOrThrow(auditListQuerySchema, parameters, 'query'), caller, dependencies);

const fieldsOf = async (page: Promise<unknown>): Promise<string[]> => {
  const error = await page.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ValidationError);

  return ((error as ValidationError).details.fields as { field: string }[]).map((f) => f.field);
};

/** Flips one character of `text` at `index` to another base64url character. */
const flip = (text: string, index: number): string =>
  `${text.slice(0, index)}${text[index] === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;

describe('paging GET /v1/audit with page tokens', () => {
  it('pages through a window with tokens, giving each entry exactly once', async () => {
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const parameters: Record<string, string> = { limit: pages % 2 === 0 ? '4' : '9' };
      if (token !== null) parameters.page_token = token;
      const page = await list(parameters);
      seen.push(...page.entries.map((entry) => entry.audit_id));
      token = page.next_page_token;
      pages += 1;
    } while (token !== null && pages < 100);

    const newestFirst = [...written].sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1));
    expect(seen).toEqual(newestFirst.map((entry) => entry.audit_id));
    expect(pages).toBeGreaterThan(5);
  });

  it('lists unsealed entries as such, with no checkpoints', async () => {
    const page = await list({ limit: '3' });

    expect(page.entries.map((entry) => entry.sealed)).toEqual([false, false, false]);
    expect(page.entries[0]).not.toHaveProperty('signature');
    expect(page.checkpoints).toEqual([]);
  });

  it('refuses an altered token', async () => {
    const { next_page_token: token } = await list({ limit: '5' });
    const [payload = '', mac = ''] = String(token).split('.');

    for (const altered of [
      `${flip(payload, 10)}.${mac}`,
      `${payload}.${flip(mac, 3)}`,
      `${payload}.${mac.slice(0, -2)}`,
      `${payload}${mac}`,
      `${Buffer.from('{"since":"2026-01-01T00:00:00.000Z"}').toString('base64url')}.${mac}`,
    ]) {
      expect(await fieldsOf(list({ limit: '5', page_token: altered }))).toEqual([
        'query.page_token',
      ]);
    }
  });

  it('refuses the token of another query', async () => {
    const { next_page_token: token } = await list({ service: 'blux-lite', limit: '5' });
    const page_token = String(token);

    expect(await list({ service: 'blux-lite', limit: '5', page_token })).toBeDefined();
    const others: Record<string, string>[] = [
      { service: 'blux-reg' },
      {},
      { service: 'blux-lite', order: 'asc' },
      { service: 'blux-lite', since: '2026-05-01T00:00:00Z' },
      { service: 'blux-lite', identity: 'service:e2e-writer' },
    ];

    for (const other of others) {
      expect(await fieldsOf(list({ ...other, limit: '5', page_token }))).toEqual([
        'query.page_token',
      ]);
    }
  });

  it('refuses a token replayed by another identity', async () => {
    const { next_page_token: token } = await list({ limit: '5' });

    const replayed = list({ limit: '5', page_token: String(token) }, 'service:intruder');

    expect(await fieldsOf(replayed)).toEqual(['query.page_token']);
  });
});
