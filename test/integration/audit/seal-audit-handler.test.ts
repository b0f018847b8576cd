import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttributeValue as LambdaAttributeValue, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { auditChainOf } from '@shared/audit/audit-ids';
import { isSealedAuditEntry } from '@shared/audit/audit-store';
import { auditEntryItem, auditEntryKey } from '@shared/audit/dynamodb-audit-items';
import { TABLES } from '@shared/catalog/tables';
import { auditEntryAt, createAuditTables, type AuditTables } from '@test/fixtures/audit';
import { dynamoDbStreamEvent, lambdaContext } from '@test/fixtures/events';

type Image = Record<string, LambdaAttributeValue>;

let tables: AuditTables;
let keyRingDir: string;
let handler: (event: DynamoDBStreamEvent, context: unknown) => Promise<void>;

beforeAll(async () => {
  tables = await createAuditTables(inject('dynamoEndpoint'), 'sealfn');
  keyRingDir = await mkdtemp(join(tmpdir(), 'blux-seal-'));
  // The handler reads its tables, endpoint and key ring as the stack or the runtime set them.
  process.env[TABLES.audit.envVar] = tables.auditTable;
  process.env[TABLES.auditCheckpoints.envVar] = tables.checkpointsTable;
  process.env.DYNAMODB_ENDPOINT = inject('dynamoEndpoint');
  process.env.BLUX_LOCAL_KEY_RING_DIR = keyRingDir;
  ({ handler } = (await import('@functions/seal-audit')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  tables.client.destroy();
  await rm(keyRingDir, { recursive: true, force: true });
});

const written = async (entry: UnsealedAuditEntry): Promise<Image> => {
  await tables.store().append(entry);

  return auditEntryItem(entry, 400) as Image;
};

const keysOf = (entry: UnsealedAuditEntry): Image => auditEntryKey(entry.audit_id) as Image;

describe('the sealAudit stream consumer', () => {
  it('seals the entries of INSERT records and leaves the rest alone', async () => {
    const inserted = auditEntryAt(new Date(), { requestId: 'req-inserted' });
    const modified = auditEntryAt(new Date(), { requestId: 'req-modified' });
    const image = await written(inserted);
    const modifiedImage = await written(modified);

    await handler(
      dynamoDbStreamEvent([
        { eventName: 'INSERT', keys: keysOf(inserted), newImage: image },
        { eventName: 'MODIFY', keys: keysOf(modified), newImage: modifiedImage },
        { eventName: 'REMOVE', keys: keysOf(modified) },
        {
          eventName: 'INSERT',
          keys: { pk: { S: 'other#1' }, sk: { S: 'x' } },
          newImage: { pk: { S: 'other#1' }, sk: { S: 'x' } },
        },
      ]),
      lambdaContext(),
    );

    const page = await tables.store().query({ limit: 10, order: 'desc' });
    const byRequest = new Map(page.entries.map((entry) => [entry.request_id, entry]));
    const sealed = byRequest.get('req-inserted');
    expect(sealed !== undefined && isSealedAuditEntry(sealed)).toBe(true);
    expect(sealed).toMatchObject({ chain: auditChainOf(inserted.audit_id), seq: 1 });
    expect(isSealedAuditEntry(byRequest.get('req-modified') ?? inserted)).toBe(false);
    expect((await tables.checkpoints().publishedKeys()).length).toBe(1);
  });

  it('fails the batch on a malformed entry, for the mapping to retry and isolate it', async () => {
    const entry = auditEntryAt(new Date(), { requestId: 'req-malformed' });
    const image = await written(entry);
    delete image.outcome;

    const batch = handler(
      dynamoDbStreamEvent([{ eventName: 'INSERT', keys: keysOf(entry), newImage: image }]),
      lambdaContext(),
    );

    await expect(batch).rejects.toThrow(/auditStore\.malformedItem/);
  });
});
