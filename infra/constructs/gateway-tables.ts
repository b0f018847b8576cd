/**
 * The gateway's DynamoDB tables, one per declaration in the catalog, and the only way the rest
 * of the stack reaches them: by catalog id, with access granted through `grantAccess`.
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  StreamViewType,
  Table,
  TableEncryption,
  type Attribute,
  type CfnTable,
} from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { TableAccess } from '@shared/catalog/routes';
import {
  physicalTableName,
  TABLES,
  type KeyAttribute,
  type StreamViewType as DeclaredStreamViewType,
  type TableDeclaration,
  type TableId,
} from '@shared/catalog/tables';
import { InfraConfigError } from '@infra/infra-error';
import { pascalCase } from '@infra/naming';
import { STAGE_CONFIG, isStage, type Stage } from '@infra/stage-config';

/** Props of `GatewayTables`. */
export interface GatewayTablesProps {
  /** The stage whose physical names the tables take: `blux-<stage>-<suffix>`. */
  readonly stage: Stage;
  /**
   * What `cdk destroy` does to a table. Tables declared `retainAlways` are kept whatever this
   * says, because they hold records (the audit trail, the client registry) that a mistaken
   * destroy must not erase.
   *
   * @default - the stage's `removalPolicy` in `STAGE_CONFIG`
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Whether DynamoDB refuses to delete the tables.
   *
   * @default - the stage's `deletionProtection` in `STAGE_CONFIG`
   */
  readonly deletionProtection?: boolean;
  /**
   * Tables that refuse deletion in every stage, whatever `deletionProtection` says: an audit
   * trail that a dev stack could lose is one nobody can trust in dev either.
   *
   * @default ALWAYS_PROTECTED_TABLES - `audit` and `auditCheckpoints`
   */
  readonly alwaysProtected?: readonly TableId[];
  /**
   * The tables to build.
   *
   * @default TABLES - the catalog's declarations
   */
  readonly declarations?: Readonly<Record<TableId, TableDeclaration>>;
}

/** The tables with deletion protection in every stage unless a caller says otherwise. */
export const ALWAYS_PROTECTED_TABLES = [
  'audit',
  'auditCheckpoints',
] as const satisfies readonly TableId[];

/**
 * What the sealer may set on an audit entry: its key, which `dynamodb:Attributes` must list
 * too, and the seal fields, each written once. Nothing an entry says about the event is here.
 */
export const AUDIT_SEAL_ATTRIBUTES = [
  'pk',
  'sk',
  'chain',
  'seq',
  'prev_hash',
  'kid',
  'hash',
  'signature',
  'sealed_at',
] as const;

const ATTRIBUTE_TYPES = { S: AttributeType.STRING, N: AttributeType.NUMBER } as const;

const STREAM_VIEW_TYPES: Record<DeclaredStreamViewType, StreamViewType> = {
  KEYS_ONLY: StreamViewType.KEYS_ONLY,
  NEW_IMAGE: StreamViewType.NEW_IMAGE,
  OLD_IMAGE: StreamViewType.OLD_IMAGE,
  NEW_AND_OLD_IMAGES: StreamViewType.NEW_AND_OLD_IMAGES,
};

const GRANTS: Record<TableAccess, (table: Table, grantee: IGrantable) => Grant> = {
  read: (table, grantee) => table.grantReadData(grantee),
  write: (table, grantee) => table.grantWriteData(grantee),
  readWrite: (table, grantee) => table.grantReadWriteData(grantee),
  // Put-only: a writer can add entries but never update or delete one. Encryption uses the
  // AWS managed key, so no KMS grant is needed beside it.
  append: (table, grantee) => table.grant(grantee, 'dynamodb:PutItem'),
  readAppend: (table, grantee) => {
    table.grant(grantee, 'dynamodb:PutItem');

    return table.grantReadData(grantee);
  },
};

const toAttribute = (key: KeyAttribute): Attribute => ({
  name: key.name,
  type: ATTRIBUTE_TYPES[key.type],
});

/** Every catalog table of a stage, on demand, with PITR, KMS encryption, TTL and streams. */
export class GatewayTables extends Construct {
  /** The stage the tables belong to. */
  readonly stage: Stage;
  private readonly declarations: Readonly<Record<TableId, TableDeclaration>>;
  private readonly tables = new Map<TableId, Table>();

  constructor(scope: Construct, id: string, props: GatewayTablesProps) {
    super(scope, id);

    // Props are typed, but a stage can still arrive from a cast or a JavaScript caller.
    if (!isStage(props.stage)) {
      throw new InfraConfigError(
        'gatewayTables.invalidStage',
        `stage ${JSON.stringify(props.stage)} cannot name a table`,
        { stage: props.stage },
      );
    }
    this.stage = props.stage;
    this.declarations = props.declarations ?? TABLES;
    const stageConfig = STAGE_CONFIG[props.stage];
    const removalPolicy = props.removalPolicy ?? stageConfig.removalPolicy;
    const deletionProtection = props.deletionProtection ?? stageConfig.deletionProtection;
    const alwaysProtected: readonly TableId[] = props.alwaysProtected ?? ALWAYS_PROTECTED_TABLES;

    for (const [tableId, declaration] of this.entries()) {
      assertConsistentKeys(tableId, declaration);
      const policy = {
        removalPolicy,
        deletionProtection: deletionProtection || alwaysProtected.includes(tableId),
      };
      this.tables.set(tableId, this.createTable(tableId, declaration, policy));
    }
  }

  /** Catalog ids of the tables, in declaration order. */
  get tableIds(): TableId[] {
    return [...this.tables.keys()];
  }

  /**
   * The table declared under `tableId`.
   *
   * @throws InfraConfigError `gatewayTables.unknownTable` when no such table was built.
   */
  table(tableId: TableId): Table {
    const table = this.tables.get(tableId);
    if (table === undefined) {
      throw new InfraConfigError('gatewayTables.unknownTable', `no table with id ${tableId}`, {
        tableId,
        known: this.tableIds,
      });
    }

    return table;
  }

  /** Grants exactly the declared access: data-plane actions on that table and nothing else. */
  grantAccess(grantee: IGrantable, tableId: TableId, access: TableAccess): Grant {
    const table = this.table(tableId);
    const grant = GRANTS[access](table, grantee);
    if ((this.declarations[tableId].globalIndexes ?? []).length > 0) {
      this.acknowledgeIndexWildcard(grantee, table);
    }

    return grant;
  }

  /**
   * The sealer's access to the audit table, narrower than any `TableAccess`: `UpdateItem` alone,
   * limited by IAM conditions to `AUDIT_SEAL_ATTRIBUTES` and to requests that return nothing.
   * It can neither add, replace nor delete an entry, nor change what an entry records.
   */
  grantSealFieldsUpdate(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.table('audit').tableArn],
      conditions: {
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...AUDIT_SEAL_ATTRIBUTES] },
        // The seal update asks for no values back; refusing others keeps entries unreadable.
        StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
      },
    });
  }

  /**
   * Each table's environment variable and physical name, which handlers read through
   * `@shared/config`. Names come from the catalog's rule, the same one the local runtime uses.
   */
  environmentVariables(): Record<string, string> {
    const variables: Record<string, string> = {};
    for (const [tableId, declaration] of this.entries()) {
      variables[declaration.envVar] = physicalTableName(this.stage, tableId);
    }

    return variables;
  }

  /**
   * A grant on a table with global indexes also names `<table ARN>/index/*`, which cdk-nag
   * reports as a wildcard. It is acknowledged on the grantee's role, for this table alone.
   */
  private acknowledgeIndexWildcard(grantee: IGrantable, table: Table): void {
    const principal = grantee.grantPrincipal;
    if (!Construct.isConstruct(principal)) {
      return;
    }
    const tableLogicalId = Stack.of(table).getLogicalId(table.node.defaultChild as CfnTable);

    Validations.of(principal).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
      reason:
        `Querying the global indexes of ${table.node.id} takes <table ARN>/index/*, which CDK ` +
        "adds to every grant on an indexed table; the wildcard covers that table's indexes only.",
    });
  }

  private entries(): [TableId, TableDeclaration][] {
    return Object.entries(this.declarations) as [TableId, TableDeclaration][];
  }

  private createTable(
    tableId: TableId,
    declaration: TableDeclaration,
    policy: { readonly removalPolicy: RemovalPolicy; readonly deletionProtection: boolean },
  ): Table {
    const table = new Table(this, pascalCase(tableId), {
      tableName: physicalTableName(this.stage, tableId),
      partitionKey: toAttribute(declaration.partitionKey),
      sortKey: declaration.sortKey === undefined ? undefined : toAttribute(declaration.sortKey),
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key (aws/dynamodb) rather than a customer managed one: no key policy to
      // keep in step with every function, no kms:Decrypt grant per route, no monthly key fee,
      // and its use still shows in CloudTrail. A customer key earns its keep only for
      // cross-account access or revoking a key, and the gateway needs neither today.
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: declaration.ttlAttribute,
      stream: declaration.stream === undefined ? undefined : STREAM_VIEW_TYPES[declaration.stream],
      deletionProtection: policy.deletionProtection,
      removalPolicy:
        declaration.retainAlways === true ? RemovalPolicy.RETAIN : policy.removalPolicy,
    });
    for (const index of declaration.globalIndexes ?? []) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: toAttribute(index.partitionKey),
        sortKey: index.sortKey === undefined ? undefined : toAttribute(index.sortKey),
      });
    }

    return table;
  }
}

/**
 * DynamoDB defines each attribute once per table, so the same name typed `S` in one key and `N`
 * in another would only fail at deploy time; refuse it while synthesizing instead.
 */
const assertConsistentKeys = (tableId: TableId, declaration: TableDeclaration): void => {
  const indexes = declaration.globalIndexes ?? [];
  const keys = [declaration.partitionKey, declaration.sortKey];
  for (const index of indexes) {
    keys.push(index.partitionKey, index.sortKey);
  }
  const types = new Map<string, KeyAttribute['type']>();
  for (const key of keys) {
    if (key === undefined) {
      continue;
    }
    const known = types.get(key.name);
    if (known !== undefined && known !== key.type) {
      throw new InfraConfigError(
        'gatewayTables.conflictingAttributeType',
        `table ${tableId} declares attribute ${key.name} as both ${known} and ${key.type}`,
        { tableId, attribute: key.name },
      );
    }
    types.set(key.name, key.type);
  }

  const names = indexes.map((index) => index.name);
  const duplicate = names.find((name, position) => names.indexOf(name) !== position);
  if (duplicate !== undefined) {
    throw new InfraConfigError(
      'gatewayTables.duplicateIndexName',
      `table ${tableId} declares index ${duplicate} twice`,
      { tableId, indexName: duplicate },
    );
  }
};
