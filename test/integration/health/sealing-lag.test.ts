import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAuditSealer } from '@shared/audit/audit-sealer';
import {
  measureSealingLag,
  SEALING_GRACE_MS,
  SEALING_LAG_SHARDS,
} from '@shared/audit/audit-sealing-lag';
import { auditShardOf } from '@shared/audit/dynamodb-audit-items';
import {
  auditEntryAt,
  createAuditTables,
  fixedKeySource,
  type AuditTables,
} from '@test/fixtures/audit';

const NOW = new Date();
const MINUTE_MS = 60_000;

let tables: AuditTables;

beforeAll(async () => {
  tables = await createAuditTables(inject('dynamoEndpoint'), 'lag');
});

afterAll(() => {
  tables.client.destroy();
});

/** An entry made `ageMs` before `NOW` in an index shard the measurement reads. */
const sampledEntryAged = (ageMs: number) => {
  for (;;) {
    const entry = auditEntryAt(new Date(NOW.getTime() - ageMs));
    if ((SEALING_LAG_SHARDS as readonly number[]).includes(auditShardOf(entry.audit_id))) {
      return entry;
    }
  }
};

const lag = (): Promise<number> =>
  measureSealingLag({ client: tables.client, tableName: tables.auditTable, now: () => NOW });

describe('the audit sealing lag', () => {
  it('is 0 while every unsealed entry is younger than the grace', async () => {
    await tables.store().append(sampledEntryAged(SEALING_GRACE_MS / 2));

    expect(await lag()).toBe(0);
  });

  it('is the age of the oldest entry left unsealed past the grace', async () => {
    // Written straight to the table: no sealer runs here, so these stay unsealed.
    await tables.store().append(sampledEntryAged(2 * MINUTE_MS));
    await tables.store().append(sampledEntryAged(5 * MINUTE_MS));

    expect(await lag()).toBe(5 * MINUTE_MS);
  });

  it('ignores entries that the sealer has sealed', async () => {
    const sealedTables = await createAuditTables(inject('dynamoEndpoint'), 'lagsealed');
    const entry = sampledEntryAged(10 * MINUTE_MS);
    await sealedTables.store().append(entry);
    await createAuditSealer({ store: sealedTables.checkpoints(), keys: fixedKeySource() }).seal([
      entry,
    ]);

    const measured = await measureSealingLag({
      client: sealedTables.client,
      tableName: sealedTables.auditTable,
      now: () => NOW,
    });

    expect(measured).toBe(0);
    sealedTables.client.destroy();
  });
});
