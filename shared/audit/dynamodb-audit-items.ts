/**
 * How an audit entry is laid out as an item of the `audit` table:
 *
 *   pk = entry#<audit_id>   sk = entry
 *   the entry's own fields under their own names, the seal's once the sealer has added it
 *   ts_id = <timestamp>#<audit_id>            the sort key of every index
 *   time_pk      = time#<yyyy-mm-dd>#<shard>  index by_time, one partition set per UTC day
 *   service_pk   = service#<service>#<shard>  index by_service
 *   operation_pk = operation#<operation>#<shard>
 *   identity_pk  = identity#<identity>#<shard>
 *   expires_at   = epoch seconds after which DynamoDB's TTL may delete the entry
 *
 * The shard spreads one busy value (one identity, one day) over `AUDIT_SHARD_COUNT` index
 * partitions so that no partition takes every write; a listing reads all shards and merges.
 * The reader accepts both the SDK's attribute values and a stream record's, which differ only
 * in binary members this table never holds.
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SERVICE_NAMES, type ServiceName } from '@shared/catalog/services';
import type {
  AuditDetailValue,
  AuditOutcome,
  AuditSeal,
  SealedAuditEntry,
  UnsealedAuditEntry,
} from './audit-entry';
import { AUDIT_SHARD_COUNT, type StoredAuditEntry } from './audit-store';
import { CodedError } from '@shared/errors/coded-error';

export const SECONDS_PER_DAY = 86_400;

export const ENTRY_SK = 'entry';

const ENTRY_PK_PREFIX = 'entry#';

/** An attribute value of either the SDK or a Lambda stream record, as far as entries go. */
export interface ItemValue {
  readonly S?: string;
  readonly N?: string;
  readonly BOOL?: boolean;
  readonly NULL?: boolean;
  readonly M?: Readonly<Record<string, ItemValue>>;
  readonly L?: readonly ItemValue[];
}

export type ReadableItem = Readonly<Record<string, ItemValue>>;

type Item = Record<string, AttributeValue>;

/** The indexes of the audit table, by the filter each serves. */
export const AUDIT_INDEXES = {
  identity: { name: 'by_identity', partitionKey: 'identity_pk', prefix: 'identity' },
  operation: { name: 'by_operation', partitionKey: 'operation_pk', prefix: 'operation' },
  service: { name: 'by_service', partitionKey: 'service_pk', prefix: 'service' },
  time: { name: 'by_time', partitionKey: 'time_pk', prefix: 'time' },
} as const;

export type AuditIndexId = keyof typeof AUDIT_INDEXES;

export const AUDIT_STORE_ERROR_CODES = ['auditStore.malformedItem'] as const;

export type AuditStoreErrorCode = (typeof AUDIT_STORE_ERROR_CODES)[number];

/** An item this code did not write the way it reads it: a fault for the operator. */
export class AuditStoreError extends CodedError<AuditStoreErrorCode> {
  override readonly name = 'AuditStoreError';
}

export const auditEntryPk = (auditId: string): string => `${ENTRY_PK_PREFIX}${auditId}`;

export const isAuditEntryPk = (pk: string | undefined): boolean =>
  pk?.startsWith(ENTRY_PK_PREFIX) === true;

export const auditEntryKey = (auditId: string): Item => ({
  pk: { S: auditEntryPk(auditId) },
  sk: { S: ENTRY_SK },
});

/** The sort key of every index: entries order by time, then by id within a millisecond. */
export const auditTsId = (entry: Pick<UnsealedAuditEntry, 'timestamp' | 'audit_id'>): string =>
  `${entry.timestamp}#${entry.audit_id}`;

/** The audit id inside a `ts_id`; timestamps hold no `#`, so the first one separates. */
export const auditIdOfTsId = (tsId: string): string => tsId.slice(tsId.indexOf('#') + 1);

/**
 * The index shard of an entry. A hash of its own (not the chain's), so that the shards of an
 * index do not line up with the chains, and the same id always lands in the same shard.
 */
export const auditShardOf = (auditId: string): number =>
  createHash('sha256').update(`audit-shard:${auditId}`).digest().readUInt32BE(0) %
  AUDIT_SHARD_COUNT;

/** The UTC day of an ISO timestamp, `yyyy-mm-dd`: the by_time partition it belongs to. */
export const auditDayOf = (timestamp: string): string => timestamp.slice(0, 10);

/** The partition key value of `index` for a filter value (the day on the time index). */
export const auditIndexPartition = (index: AuditIndexId, value: string, shard: number): string =>
  `${AUDIT_INDEXES[index].prefix}#${value}#${shard}`;

const detailValue = (value: AuditDetailValue): AttributeValue => {
  if (value === null) return { NULL: true };
  if (typeof value === 'boolean') return { BOOL: value };
  if (typeof value === 'number') return { N: String(value) };

  return { S: value };
};

/**
 * The item of a new entry. `expires_at` counts from the entry's own timestamp, so that a
 * retention change applies to entries written after it, and never shortens what is stored.
 */
export const auditEntryItem = (entry: UnsealedAuditEntry, retentionDays: number): Item => {
  const shard = auditShardOf(entry.audit_id);
  const expiresAt =
    Math.floor(Date.parse(entry.timestamp) / 1_000) + retentionDays * SECONDS_PER_DAY;

  return {
    ...auditEntryKey(entry.audit_id),
    audit_id: { S: entry.audit_id },
    timestamp: { S: entry.timestamp },
    service: { S: entry.service },
    operation: { S: entry.operation },
    identity: { S: entry.identity },
    outcome: { S: entry.outcome },
    request_id: { S: entry.request_id },
    resource:
      entry.resource === null
        ? { NULL: true }
        : { M: { type: { S: entry.resource.type }, id: { S: entry.resource.id } } },
    details: {
      M: Object.fromEntries(
        Object.entries(entry.details).map(([key, value]) => [key, detailValue(value)]),
      ),
    },
    ts_id: { S: auditTsId(entry) },
    time_pk: { S: auditIndexPartition('time', auditDayOf(entry.timestamp), shard) },
    service_pk: { S: auditIndexPartition('service', entry.service, shard) },
    operation_pk: { S: auditIndexPartition('operation', entry.operation, shard) },
    identity_pk: { S: auditIndexPartition('identity', entry.identity, shard) },
    expires_at: { N: String(expiresAt) },
  };
};

// Reading

const malformed = (what: string): AuditStoreError =>
  new AuditStoreError('auditStore.malformedItem', `an audit entry item has no valid ${what}`);

const readString = (item: ReadableItem, name: string): string => {
  const value = item[name]?.S;
  if (value === undefined) {
    throw malformed(name);
  }

  return value;
};

const readInteger = (item: ReadableItem, name: string): number => {
  const value = Number(item[name]?.N);
  if (!Number.isSafeInteger(value)) {
    throw malformed(name);
  }

  return value;
};

const readDetail = (name: string, value: ItemValue): AuditDetailValue => {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL === true) return null;

  throw malformed(`details.${name}`);
};

const readDetails = (item: ReadableItem): Record<string, AuditDetailValue> => {
  const details = item.details?.M;
  if (details === undefined) {
    throw malformed('details');
  }

  return Object.fromEntries(
    Object.entries(details).map(([name, value]) => [name, readDetail(name, value)]),
  );
};

const readResource = (item: ReadableItem): UnsealedAuditEntry['resource'] => {
  const value = item.resource;
  if (value?.NULL === true) {
    return null;
  }
  if (value?.M === undefined) {
    throw malformed('resource');
  }

  return { type: readString(value.M, 'type'), id: readString(value.M, 'id') };
};

const readService = (item: ReadableItem): ServiceName => {
  const service = readString(item, 'service');
  if (!(SERVICE_NAMES as readonly string[]).includes(service)) {
    throw malformed('service');
  }

  return service as ServiceName;
};

const OUTCOMES: readonly string[] = ['success', 'failure', 'refused'] satisfies AuditOutcome[];

const readOutcome = (item: ReadableItem): AuditOutcome => {
  const outcome = readString(item, 'outcome');
  if (!OUTCOMES.includes(outcome)) {
    throw malformed('outcome');
  }

  return outcome as AuditOutcome;
};

const readUnsealed = (item: ReadableItem): UnsealedAuditEntry => ({
  audit_id: readString(item, 'audit_id'),
  timestamp: readString(item, 'timestamp'),
  service: readService(item),
  operation: readString(item, 'operation'),
  identity: readString(item, 'identity'),
  outcome: readOutcome(item),
  request_id: readString(item, 'request_id'),
  resource: readResource(item),
  details: readDetails(item),
});

const readSeal = (item: ReadableItem): AuditSeal => ({
  chain: readInteger(item, 'chain'),
  seq: readInteger(item, 'seq'),
  prev_hash: item.prev_hash?.NULL === true ? null : readString(item, 'prev_hash'),
  kid: readString(item, 'kid'),
  hash: readString(item, 'hash'),
  signature: readString(item, 'signature'),
  sealed_at: readString(item, 'sealed_at'),
});

/**
 * The entry an item holds, sealed when it carries a signature. Storage attributes (keys, index
 * keys, the TTL) are left behind. Throws `auditStore.malformedItem` for an item of another shape.
 */
export const readAuditEntryItem = (item: ReadableItem): StoredAuditEntry => {
  const entry = readUnsealed(item);
  if (item.signature === undefined) {
    return entry;
  }
  const sealed: SealedAuditEntry = { ...entry, ...readSeal(item) };

  return sealed;
};

/** The unsealed part of an entry item: what the sealer reads from an INSERT's new image. */
export const readUnsealedAuditEntryItem = (item: ReadableItem): UnsealedAuditEntry =>
  readUnsealed(item);
