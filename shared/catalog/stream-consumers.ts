/**
 * Functions that consume a table's DynamoDB stream. In AWS each becomes an event source
 * mapping; the local runtime polls DynamoDB Local's stream and invokes the same handler with
 * the same settings. Later capabilities (task execution, audit sealing, event fan-out) add
 * their consumers here.
 */
import { MAX_INLINE_RETRY_WAIT_MS } from '@shared/tasks/task-runner';
import { TASK_TYPES } from '@shared/tasks/task-types';
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
  /**
   * How long one invocation may run, in AWS and in the local runtime alike.
   *
   * @default - the stage's function timeout in AWS, 10 s in the local runtime
   */
  readonly timeoutSeconds?: number;
  /**
   * Batches of one shard in flight at once (1 to 10); records of one item stay in order.
   *
   * @default 1
   */
  readonly parallelizationFactor?: number;
}

/** Seconds the executor keeps after the longest attempt and its retry wait, to write it. */
export const TASK_EXECUTOR_MARGIN_SECONDS = 30;

/**
 * The executor's invocation timeout: the longest timeout of an internal task type, plus the
 * longest retry wait the consumer does itself, plus the margin for the final write. An attempt
 * therefore always ends, by its own timeout, before Lambda ends the invocation.
 */
export const TASK_EXECUTOR_TIMEOUT_SECONDS =
  Math.max(
    ...TASK_TYPES.filter((type) => type.execution === 'internal').map(
      (type) => type.timeoutSeconds,
    ),
  ) +
  Math.ceil(MAX_INLINE_RETRY_WAIT_MS / 1000) +
  TASK_EXECUTOR_MARGIN_SECONDS;

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
    id: 'executeTasks',
    table: 'tasks',
    handler: 'functions/execute-tasks.ts',
    // Records of a batch run side by side, each within its type's timeout; ten at once keeps
    // the memory of ten analyses bounded in one invocation.
    batchSize: 10,
    // A new task should start at once: no gathering of records.
    maxBatchingWindowSeconds: 0,
    // Claims are conditional, so a retried batch runs nothing twice; three retries ride out a
    // throttled table, after which the records go to the failure queue and the sweeper.
    retryAttempts: 3,
    bisectBatchOnError: true,
    // A record whose claim failed is retried from there on, without rerunning its batch.
    reportBatchItemFailures: true,
    startingPosition: 'TRIM_HORIZON',
    tables: { tasks: 'readWrite', audit: 'append' },
    timeoutSeconds: TASK_EXECUTOR_TIMEOUT_SECONDS,
    // A long task holds its batch; other batches of the same shard may run meanwhile, and a
    // task's own records (one item) still arrive in order.
    parallelizationFactor: 10,
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
