import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonWebKey } from 'node:crypto';
import type {
  AuditCheckpoint,
  SealedAuditEntry,
  UnsealedAuditEntry,
} from '@shared/audit/audit-entry';
import type { AuditListPage, ListedAuditEntry } from '@shared/audit/audit-listing';
import { verifyAuditTrail } from '@shared/audit/audit-verifier';
import { writeAuditEntry } from '@shared/audit/dynamodb-audit-store';
import type { LocalGateway } from '@local/runtime';
import { auditEntryAt } from '@test/fixtures/audit';
import {
  accessToken,
  ADMIN_CLIENT,
  registerTestClient,
  useAdminClient,
} from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';

const ENTRIES = 300;
const CONCURRENT_WRITERS = 30;
const SEALING_TIMEOUT_MS = 120_000;

let gateway: LocalGateway;
let startedAt: Date;
let adminToken: string;
let readerToken: string;
let secondAuditorToken: string;

beforeAll(async () => {
  useAdminClient();
  startedAt = new Date();
  gateway = await startTestGateway();
  const readerSecret = await registerTestClient(gateway, {
    clientId: 'e2e-audit-reader',
    scopes: ['tasks:read'],
  });
  const auditorSecret = await registerTestClient(gateway, {
    clientId: 'e2e-second-auditor',
    scopes: ['audit:read'],
  });
  adminToken = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
  readerToken = await accessToken(gateway, 'e2e-audit-reader', readerSecret);
  secondAuditorToken = await accessToken(gateway, 'e2e-second-auditor', auditorSecret);
});

afterAll(async () => {
  await gateway.stop();
});

interface Reply<T> {
  readonly status: number;
  readonly body: T;
}

interface ErrorBody {
  readonly error: { readonly code: string; readonly details: { fields?: { field: string }[] } };
}

/** `GET /v1/audit` with the admin's token, another one, or none when `token` is null. */
const getAudit = async <T = AuditListPage>(
  parameters: Record<string, string>,
  token: string | null = adminToken,
): Promise<Reply<T>> => {
  const response = await fetch(`${gateway.url}/v1/audit?${new URLSearchParams(parameters)}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });

  return { status: response.status, body: (await response.json()) as T };
};

/** Every page of a listing, and the newest checkpoint seen of each chain. */
const listAll = async (parameters: Record<string, string>) => {
  const entries: ListedAuditEntry[] = [];
  const checkpoints = new Map<number, AuditCheckpoint>();
  let token: string | null = null;
  do {
    const reply: Reply<AuditListPage> = await getAudit({
      ...parameters,
      ...(token === null ? {} : { page_token: token }),
    });
    expect(reply.status).toBe(200);
    entries.push(...reply.body.entries);
    for (const checkpoint of reply.body.checkpoints) {
      if ((checkpoints.get(checkpoint.chain)?.seq ?? 0) < checkpoint.seq) {
        checkpoints.set(checkpoint.chain, checkpoint);
      }
    }
    token = reply.body.next_page_token;
  } while (token !== null);

  return { entries, checkpoints: [...checkpoints.values()] };
};

const fieldsOf = (reply: Reply<ErrorBody>): string[] =>
  (reply.body.error.details.fields ?? []).map((issue) => issue.field);

describe('the audit trail through the local gateway', () => {
  let written: UnsealedAuditEntry[] = [];

  it(
    'seals hundreds of concurrent entries into contiguous chains with no fork, which verify',
    async () => {
      written = Array.from({ length: ENTRIES }, (_, index) =>
        auditEntryAt(new Date(), {
          service: index % 3 === 0 ? 'blux-reg' : 'blux-lite',
          operation: index % 2 === 0 ? 'task.create' : 'task.cancel',
          identity: `service:writer-${index % 5}`,
          requestId: `req-e2e-${index}`,
        }),
      );
      // Writers run side by side, each writing its share; more at once than the shared client's
      // sockets would only queue requests past its one-second connection timeout.
      const queue = [...written];
      await Promise.all(
        Array.from({ length: CONCURRENT_WRITERS }, async () => {
          for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) {
            await writeAuditEntry(entry);
          }
        }),
      );

      await gateway.whenIdle();

      const listing = await listAll({ since: startedAt.toISOString(), limit: '100' });
      const ids = listing.entries.map((entry) => entry.audit_id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expect.arrayContaining(written.map((entry) => entry.audit_id)));
      expect(listing.entries.every((entry) => entry.sealed)).toBe(true);

      const chains = new Map<number, SealedAuditEntry[]>();
      for (const entry of listing.entries as (ListedAuditEntry & SealedAuditEntry)[]) {
        chains.set(entry.chain, [...(chains.get(entry.chain) ?? []), entry]);
      }
      expect(chains.size).toBeGreaterThan(1);
      for (const [chain, entries] of chains) {
        const bySeq = [...entries].sort((a, b) => a.seq - b.seq);
        expect(bySeq.map((entry) => entry.seq)).toEqual(bySeq.map((_, index) => index + 1));
        bySeq.forEach((entry, index) => {
          expect(entry.prev_hash).toBe(index === 0 ? null : bySeq[index - 1]?.hash);
        });
        const checkpoint = listing.checkpoints.find((candidate) => candidate.chain === chain);
        expect(checkpoint).toMatchObject({ seq: bySeq.length, hash: bySeq.at(-1)?.hash });
      }

      const keys = await fetch(`${gateway.url}/v1/audit/keys`);
      const report = verifyAuditTrail({
        entries: listing.entries,
        checkpoints: listing.checkpoints,
        keys: ((await keys.json()) as { keys: JsonWebKey[] }).keys,
        listedInSeqOrder: false,
      });
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, entriesChecked: listing.entries.length });
    },
    SEALING_TIMEOUT_MS,
  );

  it('publishes the sealing keys as an ES512 JWKS, without private members', async () => {
    const response = await fetch(`${gateway.url}/v1/audit/keys`);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    const { body } = await getAudit({ since: startedAt.toISOString(), limit: '1' });

    expect(response.status).toBe(200);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-521', alg: 'ES512', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    const [entry] = body.entries as (ListedAuditEntry & SealedAuditEntry)[];
    expect(keys.map((key) => key.kid)).toContain(entry?.kid);
  });

  it('answers 401 without a token and 403 without audit:read', async () => {
    const anonymous = await getAudit<ErrorBody>({}, null);
    const reader = await getAudit<ErrorBody>({}, readerToken);

    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('UNAUTHORIZED');
    expect(reader.status).toBe(403);
    expect(reader.body.error.code).toBe('FORBIDDEN');
  });

  it('filters by identity, service and operation, newest first by default', async () => {
    const since = startedAt.toISOString();
    const writer = await listAll({ since, identity: 'service:writer-2' });
    const combined = await listAll({ since, service: 'blux-reg', operation: 'task.cancel' });
    const wanted = written.filter(
      (entry) => entry.service === 'blux-reg' && entry.operation === 'task.cancel',
    );

    expect(writer.entries).toHaveLength(ENTRIES / 5);
    expect(writer.entries.every((entry) => entry.identity === 'service:writer-2')).toBe(true);
    const stamps = writer.entries.map((entry) => `${entry.timestamp}#${entry.audit_id}`);
    expect(stamps).toEqual([...stamps].sort().reverse());
    expect(combined.entries.map((entry) => entry.audit_id).sort()).toEqual(
      wanted.map((entry) => entry.audit_id).sort(),
    );
  });

  it.each([
    [{ bogus: '1' }, ['query.bogus']],
    [{ since: 'not-a-date' }, ['query.since']],
    [{ since: '2026-02-02T00:00:00Z', until: '2026-02-01T00:00:00Z' }, ['query.since']],
    [{ limit: '0' }, ['query.limit']],
    [{ limit: '501' }, ['query.limit']],
  ])('answers %o with 400 VALIDATION_FAILED naming %o', async (parameters, fields) => {
    const reply = await getAudit<ErrorBody>(parameters);

    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION_FAILED');
    expect(fieldsOf(reply)).toEqual(fields);
  });

  it('refuses a page token that was altered, or replayed by another identity', async () => {
    const query = { since: startedAt.toISOString(), limit: '10' };
    const { body } = await getAudit(query);
    const token = String(body.next_page_token);

    const altered = await getAudit<ErrorBody>({ ...query, page_token: `x${token.slice(1)}` });
    const replayed = await getAudit<ErrorBody>({ ...query, page_token: token }, secondAuditorToken);
    const honest = await getAudit({ ...query, page_token: token });

    for (const refused of [altered, replayed]) {
      expect(refused.status).toBe(400);
      expect(fieldsOf(refused)).toEqual(['query.page_token']);
    }
    expect(honest.status).toBe(200);
  });
});
