/**
 * Functions that consume a table's DynamoDB stream. In AWS each becomes an event source
 * mapping; the local runtime polls DynamoDB Local's stream and invokes the same handler with
 * the same settings. Later capabilities (task execution, audit sealing, event fan-out) add
 * their consumers here.
 */
import type { TableAccess } from './routes';
import type { TableId } from './tables';

export interface StreamConsumerDeclaration {
  readonly id: string;
  /** The table whose stream is read; it must declare a `stream`. */
  readonly table: TableId;
  /** Handler module relative to the repository root; it exports `handler`. */
  readonly handler: string;
  /** Records per invocation at most. */
  readonly batchSize: number;
  /** How long to gather records before invoking with a partial batch. */
  readonly maxBatchingWindowSeconds: number;
  /** Retries of a failing batch before it goes to the failure destination. */
  readonly retryAttempts: number;
  /** Split a failing batch in two and retry each half, to isolate a poison record. */
  readonly bisectBatchOnError: boolean;
  /** The handler answers `{ batchItemFailures }` to retry from the first failed record only. */
  readonly reportBatchItemFailures: boolean;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** Tables the handler itself reads or writes, besides the stream it consumes. */
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
}

export const STREAM_CONSUMERS: readonly StreamConsumerDeclaration[] = [
  {
    id: 'sealAudit',
    table: 'audit',
    handler: 'functions/seal-audit.ts',
    // One transaction per chain and batch: larger batches sign more per round trip.
    batchSize: 100,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    // A failed batch throws and is halved until a bad record stands alone and is sent to the
    // failure destination; what was sealed meanwhile is skipped on the retry, not resealed.
    bisectBatchOnError: true,
    reportBatchItemFailures: false,
    startingPosition: 'TRIM_HORIZON',
    tables: {
      // Only the seal fields of entries: chain, seq, prev_hash, kid, hash, signature and
      // sealed_at, each set once, under `attribute_not_exists(seq)`. The sealer never puts or
      // deletes an entry; the stack can hold it to those attributes with `dynamodb:Attributes`.
      audit: 'readWrite',
      auditCheckpoints: 'readWrite',
    },
  },
  {
    id: 'publishTaskEvents',
    table: 'tasks',
    handler: 'functions/publish-task-events.ts',
    // Each batch is one transaction per 49 events on the channel's head: larger batches mean
    // fewer races between the shards' publishers.
    batchSize: 100,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 10,
    // A retried batch republishes nothing: each change leaves a source marker with its events.
    bisectBatchOnError: true,
    reportBatchItemFailures: false,
    startingPosition: 'TRIM_HORIZON',
    tables: { events: 'readWrite' },
  },
  {
    id: 'publishAuditEvents',
    table: 'audit',
    handler: 'functions/publish-audit-events.ts',
    batchSize: 100,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: false,
    startingPosition: 'TRIM_HORIZON',
    tables: { events: 'readWrite' },
  },
  {
    id: 'fanOutEvents',
    table: 'events',
    handler: 'functions/fan-out-events.ts',
    // Each event may mean hundreds of posts; a small batch keeps an invocation well within
    // its time, and a channel too large for one is handed on as a continuation item.
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 3,
    bisectBatchOnError: false,
    // A failed event is answered as the first item failure: the retry starts there, and the
    // events before it are not posted twice.
    reportBatchItemFailures: true,
    // Events older than the consumer are for resumes to replay, not for fan-out.
    startingPosition: 'LATEST',
    // `events: write` only puts continuation items.
    tables: { connections: 'readWrite', events: 'write' },
  },
];
