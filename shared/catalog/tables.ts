/**
 * The gateway's DynamoDB tables, declared once. The CDK stack, the local runtime and the tests
 * all read this file, so a table cannot exist in one place and not in another.
 */

export type AttributeType = 'S' | 'N';

export interface KeyAttribute {
  readonly name: string;
  readonly type: AttributeType;
}

/** What a table's stream carries, in DynamoDB's own words. */
export type StreamViewType = 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES';

export interface GlobalIndexDeclaration {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

export interface TableDeclaration {
  /** Short name, used in physical names: `blux-<stage>-<suffix>`. */
  readonly suffix: string;
  /** Environment variable through which handlers learn the physical table name. */
  readonly envVar: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Attribute holding an epoch-seconds expiry; DynamoDB TTL deletes lazily, so never rely on it. */
  readonly ttlAttribute?: string;
  readonly stream?: StreamViewType;
  readonly globalIndexes?: readonly GlobalIndexDeclaration[];
  /** Holds records that must survive a mistaken `cdk destroy` in every stage. */
  readonly retainAlways?: boolean;
}

const PK: KeyAttribute = { name: 'pk', type: 'S' };
const SK: KeyAttribute = { name: 'sk', type: 'S' };
const TS_ID: KeyAttribute = { name: 'ts_id', type: 'S' };

export const TABLES = {
  /**
   * Tasks (`pk = task#<task_id>`, layout in `shared/tasks/task-store.ts`) and the idempotency
   * records of `POST /v1/tasks` (`pk = idem#...`, which expire through `expires_at`). The
   * indexes are sparse: `by_queue` holds live tasks only, for claims and sweeps; `by_owner`
   * every task, newest first within an owner, for the listing; `by_completed_type` completed
   * tasks only, latest first within a type, for the estimates of new tasks.
   */
  tasks: {
    suffix: 'tasks',
    envVar: 'TABLE_TASKS',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    stream: 'NEW_AND_OLD_IMAGES',
    globalIndexes: [
      {
        name: 'by_queue',
        partitionKey: { name: 'queue_pk', type: 'S' },
        sortKey: { name: 'available_at', type: 'S' },
      },
      {
        name: 'by_owner',
        partitionKey: { name: 'owner', type: 'S' },
        sortKey: { name: 'task_id', type: 'S' },
      },
      {
        name: 'by_completed_type',
        partitionKey: { name: 'completed_type', type: 'S' },
        sortKey: { name: 'finished_at', type: 'S' },
      },
    ],
  },
  /**
   * Audit entries, one item each (`pk = entry#<audit_id>`), spread by their random ids. The
   * indexes serve every filter of `GET /v1/audit` by key; their partition keys end in a shard
   * number (`#0`..`#7`) so that no index partition takes every write.
   */
  audit: {
    suffix: 'audit',
    envVar: 'TABLE_AUDIT',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    stream: 'NEW_IMAGE',
    retainAlways: true,
    globalIndexes: [
      { name: 'by_time', partitionKey: { name: 'time_pk', type: 'S' }, sortKey: TS_ID },
      { name: 'by_service', partitionKey: { name: 'service_pk', type: 'S' }, sortKey: TS_ID },
      { name: 'by_operation', partitionKey: { name: 'operation_pk', type: 'S' }, sortKey: TS_ID },
      { name: 'by_identity', partitionKey: { name: 'identity_pk', type: 'S' }, sortKey: TS_ID },
    ],
  },
  /**
   * What only the audit sealer writes: chain heads, signed checkpoints and the published
   * audit keys. Writers of entries have no access to it, so they cannot rewrite a checkpoint.
   */
  auditCheckpoints: {
    suffix: 'audit-checkpoints',
    envVar: 'TABLE_AUDIT_CHECKPOINTS',
    partitionKey: PK,
    sortKey: SK,
    retainAlways: true,
  },
  rateCounters: {
    suffix: 'rate-counters',
    envVar: 'TABLE_RATE_COUNTERS',
    partitionKey: PK,
    ttlAttribute: 'expires_at',
  },
  clients: {
    suffix: 'clients',
    envVar: 'TABLE_CLIENTS',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    retainAlways: true,
  },
  /**
   * The events of every channel (`pk = channel#<channel>`, `sk` = the channel's seq), its head
   * (`head#<channel>`, sk 0) and markers of published changes; layout in
   * `shared/events/dynamodb-event-items.ts`. Kept 24 hours by default for resumes.
   */
  events: {
    suffix: 'events',
    envVar: 'TABLE_EVENTS',
    partitionKey: PK,
    sortKey: { name: 'sk', type: 'N' },
    ttlAttribute: 'expires_at',
    stream: 'NEW_IMAGE',
  },
  /**
   * WebSocket connections and their subscriptions, both under `pk = connection#<id>`: the
   * connection itself at `sk = connection`, one item per channel at `sk = subscription#<name>`.
   * Only subscriptions carry `channel`, so `by_channel` is a sparse index of exactly the
   * subscribers of each channel, which fan-out queries instead of scanning. Every item expires
   * two hours after the connection opened, when API Gateway closes it anyway.
   */
  connections: {
    suffix: 'connections',
    envVar: 'TABLE_CONNECTIONS',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    globalIndexes: [
      {
        name: 'by_channel',
        partitionKey: { name: 'channel', type: 'S' },
        sortKey: { name: 'connection_id', type: 'S' },
      },
    ],
  },
} as const satisfies Record<string, TableDeclaration>;

export type TableId = keyof typeof TABLES;

export const TABLE_IDS = Object.keys(TABLES) as TableId[];

/** The physical name of a table in a stage, the same rule in AWS and in the local runtime. */
export const physicalTableName = (stage: string, id: TableId): string =>
  `blux-${stage}-${TABLES[id].suffix}`;
