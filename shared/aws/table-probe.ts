/**
 * A health check that asks a table for one item by key. A read of a key that never exists is
 * the cheapest data-plane call there is, and it proves what a handler needs: the table exists,
 * answers, and the function may read it.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLES, type TableId } from '@shared/catalog/tables';
import { tableName } from '@shared/config';
import type { HealthCheck } from '@shared/health/health';
import { dynamoDb } from './dynamodb';

const PROBE_KEY_VALUE = '#health-probe';

export const tableProbe = (id: TableId): HealthCheck => {
  const table = TABLES[id];
  const key: Record<string, { S: string }> = {};
  for (const attribute of [table.partitionKey, 'sortKey' in table ? table.sortKey : undefined]) {
    if (attribute !== undefined) {
      key[attribute.name] = { S: PROBE_KEY_VALUE };
    }
  }

  return {
    name: `table:${table.suffix}`,
    probe: async (signal) => {
      await dynamoDb().send(new GetItemCommand({ TableName: tableName(id), Key: key }), {
        abortSignal: signal,
      });
    },
  };
};
