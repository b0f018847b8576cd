/**
 * A health check that asks a table for one item by key. A read of a key that never exists is
 * the cheapest data-plane call there is, and it proves what a handler needs: the table exists,
 * answers, and the function may read it.
 */
import { GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { TABLES, type TableId } from '@shared/catalog/tables';
import { tableName } from '@shared/config';
import type { HealthCheck } from '@shared/health/health';
import { dynamoDb } from './dynamodb';

const PROBE_KEY_VALUE = '#health-probe';

// Sequence numbers start at 1, so no event is ever kept at a negative one.
const PROBE_KEY_NUMBER = '-1';

export const tableProbe = (id: TableId): HealthCheck => {
  const table = TABLES[id];
  const key: Record<string, AttributeValue> = {};
  for (const attribute of [table.partitionKey, 'sortKey' in table ? table.sortKey : undefined]) {
    if (attribute !== undefined) {
      // A key attribute of the wrong type is a validation error, not a missing item.
      key[attribute.name] =
        attribute.type === 'N' ? { N: PROBE_KEY_NUMBER } : { S: PROBE_KEY_VALUE };
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
