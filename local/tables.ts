/**
 * Creates the gateway's tables in DynamoDB Local from the same declarations the CDK stack
 * reads, streams and TTL included.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import {
  TABLE_IDS,
  TABLES,
  type KeyAttribute,
  type TableDeclaration,
  type TableId,
} from '@shared/catalog/tables';

const keySchema = (partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] => [
  { AttributeName: partitionKey.name, KeyType: 'HASH' },
  ...(sortKey === undefined ? [] : [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }]),
];

const attributeDefinitions = (table: TableDeclaration): AttributeDefinition[] => {
  const keys = [table.partitionKey, table.sortKey];
  for (const index of table.globalIndexes ?? []) {
    keys.push(index.partitionKey, index.sortKey);
  }
  const byName = new Map<string, AttributeDefinition>();
  for (const key of keys) {
    if (key !== undefined) {
      byName.set(key.name, { AttributeName: key.name, AttributeType: key.type });
    }
  }

  return [...byName.values()];
};

/** The CreateTable request for a declaration; exported so tests can compare it with the stack. */
export const createTableInput = (
  table: TableDeclaration,
  physicalName: string,
): CreateTableCommandInput => ({
  TableName: physicalName,
  BillingMode: 'PAY_PER_REQUEST',
  KeySchema: keySchema(table.partitionKey, table.sortKey),
  AttributeDefinitions: attributeDefinitions(table),
  ...(table.globalIndexes === undefined || table.globalIndexes.length === 0
    ? {}
    : {
        GlobalSecondaryIndexes: table.globalIndexes.map((index) => ({
          IndexName: index.name,
          KeySchema: keySchema(index.partitionKey, index.sortKey),
          Projection: { ProjectionType: 'ALL' },
        })),
      }),
  ...(table.stream === undefined
    ? {}
    : { StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream } }),
});

const createTable = async (
  client: DynamoDBClient,
  id: TableId,
  physicalName: string,
): Promise<void> => {
  const table: TableDeclaration = TABLES[id];
  try {
    await client.send(new CreateTableCommand(createTableInput(table, physicalName)));
  } catch (error) {
    // A persisted data folder already holds the table from an earlier start.
    if (error instanceof ResourceInUseException) {
      return;
    }
    throw error;
  }
  if (table.ttlAttribute !== undefined) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: physicalName,
        TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
      }),
    );
  }
};

/** Creates every declared table that does not exist yet, and returns each one's stream ARN. */
export const ensureTables = async (
  client: DynamoDBClient,
  physicalName: (id: TableId) => string,
): Promise<Partial<Record<TableId, string>>> => {
  const streamArns: Partial<Record<TableId, string>> = {};
  for (const id of TABLE_IDS) {
    await createTable(client, id, physicalName(id));
    const described = await client.send(new DescribeTableCommand({ TableName: physicalName(id) }));
    const streamArn = described.Table?.LatestStreamArn;
    if (streamArn !== undefined) {
      streamArns[id] = streamArn;
    }
  }

  return streamArns;
};
