import { GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SealedAuditEntry, UnsealedAuditEntry } from '@shared/audit/audit-entry';
import type { AuditChainHead } from '@shared/audit/audit-seal';
import { createAuditSealer } from '@shared/audit/audit-sealer';
import { generateAuditSigningKey, toPublishedAuditJwk } from '@shared/audit/audit-signing-key';
import {
  AuditSealConflictError,
  isSealedAuditEntry,
  type AuditCheckpointStore,
  type StoredAuditEntry,
} from '@shared/audit/audit-store';
import { verifyAuditTrail } from '@shared/audit/audit-verifier';
import { checkpointSk } from '@shared/audit/dynamodb-audit-checkpoint-store';
import { auditEntryKey, readAuditEntryItem } from '@shared/audit/dynamodb-audit-items';
import {
  createAuditTables,
  entriesOfChain,
  fixedKeySource,
  type AuditTables,
} from '@test/fixtures/audit';

const key = generateAuditSigningKey();
const noPause = async (): Promise<void> => undefined;

let tables: AuditTables;
let checkpoints: AuditCheckpointStore;

beforeAll(async () => {
  tables = await createAuditTables(inject('dynamoEndpoint'), 'auditseal');
  checkpoints = tables.checkpoints();
});

afterAll(() => {
  tables.client.destroy();
});

const write = async (entries: readonly UnsealedAuditEntry[]): Promise<void> => {
  const store = tables.store();
  await Promise.all(entries.map((entry) => store.append(entry)));
};

const sealer = (store: AuditCheckpointStore = checkpoints) =>
  createAuditSealer({ store, keys: fixedKeySource(key), sleep: noPause });

const stored = async (entry: UnsealedAuditEntry): Promise<StoredAuditEntry> => {
  const { Item } = await tables.client.send(
    new GetItemCommand({
      TableName: tables.auditTable,
      Key: auditEntryKey(entry.audit_id),
      ConsistentRead: true,
    }),
  );

  return readAuditEntryItem(Item ?? {});
};

const sealedAll = async (entries: readonly UnsealedAuditEntry[]): Promise<SealedAuditEntry[]> => {
  const all = await Promise.all(entries.map(stored));
  expect(all.every(isSealedAuditEntry)).toBe(true);

  return (all as SealedAuditEntry[]).sort((a, b) => a.seq - b.seq);
};

const checkpointCount = async (chain: number): Promise<number> => {
  const result = await tables.client.send(
    new QueryCommand({
      TableName: tables.checkpointsTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :cp)',
      ExpressionAttributeValues: { ':pk': { S: `chain#${chain}` }, ':cp': { S: 'cp#' } },
      Select: 'COUNT',
    }),
  );

  return result.Count ?? 0;
};

/** Seqs 1..n, each entry linked to the one before, and the trail verifies with the key. */
const expectOneUnforkedChain = async (chain: number, sealed: readonly SealedAuditEntry[]) => {
  expect(sealed.map((entry) => entry.seq)).toEqual(sealed.map((_, index) => index + 1));
  sealed.forEach((entry, index) => {
    expect(entry.chain).toBe(chain);
    expect(entry.prev_hash).toBe(index === 0 ? null : sealed[index - 1]?.hash);
  });
  const head = await checkpoints.head(chain);
  expect(head).toEqual({ chain, seq: sealed.length, hash: sealed.at(-1)?.hash });
  const report = verifyAuditTrail({
    entries: sealed,
    checkpoints: await checkpoints.latestCheckpoints([chain]),
    keys: [toPublishedAuditJwk(key)],
  });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
};

describe('the audit sealer', () => {
  it('seals a batch into a contiguous chain ending in a signed checkpoint', async () => {
    const entries = entriesOfChain(1, 12);
    await write(entries);

    const report = await sealer().seal([...entries].reverse());

    expect(report).toEqual({ sealed: 12, skipped: 0 });
    const sealed = await sealedAll(entries);
    // Sealed by time whatever the delivery order.
    expect(sealed.map((entry) => entry.audit_id)).toEqual(entries.map((entry) => entry.audit_id));
    await expectOneUnforkedChain(1, sealed);
  });

  it('publishes the key it seals with, public members only', async () => {
    const published = await checkpoints.publishedKeys();

    expect(published.map((entry) => entry.kid)).toContain(key.kid);
    expect(published.find((entry) => entry.kid === key.kid)?.jwk).toEqual(toPublishedAuditJwk(key));
  });

  it('does not reseal on a duplicate delivery, whole or mixed with new entries', async () => {
    const entries = entriesOfChain(2, 6);
    await write(entries);
    await sealer().seal(entries);
    const first = await sealedAll(entries);
    const checkpointsBefore = await checkpointCount(2);

    const again = await sealer().seal(entries);

    expect(again).toEqual({ sealed: 0, skipped: 6 });
    expect(await sealedAll(entries)).toEqual(first);
    expect(await checkpointCount(2)).toBe(checkpointsBefore);
    expect((await checkpoints.head(2))?.seq).toBe(6);

    const late = entriesOfChain(2, 1, new Date(Date.now() + 60_000));
    await write(late);
    const mixed = await sealer().seal([...entries.slice(0, 3), ...late]);

    expect(mixed).toEqual({ sealed: 1, skipped: 3 });
    expect(await sealedAll(entries)).toEqual(first);
    await expectOneUnforkedChain(2, await sealedAll([...entries, ...late]));
  });

  it('produces no fork when two sealers race on one chain', async () => {
    const entries = entriesOfChain(3, 30);
    await write(entries);
    // Both sealers read the head before either writes, so that one of them must lose the race.
    let conflicts = 0;
    let firstReads = 0;
    let releaseFirst: (() => void) | undefined;
    const racing = (): AuditCheckpointStore => ({
      maxEntriesPerCommit: checkpoints.maxEntriesPerCommit,
      head: async (chain) => {
        const head: AuditChainHead | undefined = await checkpoints.head(chain);
        firstReads += 1;
        if (firstReads === 1) {
          await new Promise<void>((resolve) => (releaseFirst = resolve));
        } else if (firstReads === 2) {
          releaseFirst?.();
        }

        return head;
      },
      commitSeal: async (commit) => {
        try {
          await checkpoints.commitSeal(commit);
        } catch (error) {
          if (error instanceof AuditSealConflictError) conflicts += 1;
          throw error;
        }
      },
      latestCheckpoints: (chains) => checkpoints.latestCheckpoints(chains),
      publishKey: (published) => checkpoints.publishKey(published),
      publishedKeys: () => checkpoints.publishedKeys(),
    });

    const [a, b] = await Promise.all([
      sealer(racing()).seal(entries.slice(0, 20)),
      sealer(racing()).seal(entries.slice(10)),
    ]);

    expect(conflicts).toBeGreaterThan(0);
    expect(a.sealed + b.sealed).toBe(30);
    expect(a.skipped + b.skipped).toBe(10);
    await expectOneUnforkedChain(3, await sealedAll(entries));
  });

  it('seals a run longer than one transaction in several steps', async () => {
    const entries = entriesOfChain(4, checkpoints.maxEntriesPerCommit + 7);
    await write(entries);

    await sealer().seal(entries);

    await expectOneUnforkedChain(4, await sealedAll(entries));
    expect(await checkpointCount(4)).toBe(2);
    const { Item } = await tables.client.send(
      new GetItemCommand({
        TableName: tables.checkpointsTable,
        Key: { pk: { S: 'chain#4' }, sk: { S: checkpointSk(checkpoints.maxEntriesPerCommit) } },
      }),
    );
    expect(Item?.seq?.N).toBe(String(checkpoints.maxEntriesPerCommit));
  });
});
