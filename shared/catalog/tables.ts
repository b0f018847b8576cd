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

export const TABLES = {
  tasks: {
    suffix: 'tasks',
    envVar: 'TABLE_TASKS',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    stream: 'NEW_AND_OLD_IMAGES',
  },
  audit: {
    suffix: 'audit',
    envVar: 'TABLE_AUDIT',
    partitionKey: PK,
    sortKey: SK,
    ttlAttribute: 'expires_at',
    stream: 'NEW_IMAGE',
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
} as const satisfies Record<string, TableDeclaration>;

export type TableId = keyof typeof TABLES;

export const TABLE_IDS = Object.keys(TABLES) as TableId[];

/** The physical name of a table in a stage, the same rule in AWS and in the local runtime. */
export const physicalTableName = (stage: string, id: TableId): string =>
  `blux-${stage}-${TABLES[id].suffix}`;
