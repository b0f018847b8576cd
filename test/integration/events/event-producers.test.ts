import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditEntryKey } from '@shared/audit/dynamodb-audit-items';
import { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { STREAM_CONSUMERS } from '@shared/catalog/stream-consumers';
import { TABLES, type TableId } from '@shared/catalog/tables';
import type { StoredEvent } from '@shared/events/event-store';
import { LOCAL_AWS_ENV } from '@local/dynamodb-local';
import { loadHandler } from '@local/handlers';
import { startStreamPoller, type StreamPoller } from '@local/stream-poller';
import { auditEntryAt } from '@test/fixtures/audit';
import { createEventTables, type EventTables } from '@test/fixtures/event-tables';
import { taskItems, type TaskItems } from '@test/fixtures/task-items';

type Handler = (event: DynamoDBStreamEvent) => Promise<void>;

let tables: EventTables;
let streams: DynamoDBStreamsClient;
let tasks: TaskItems;
let audit: DynamoDbAuditStore;
const pollers: StreamPoller[] = [];
const failures: unknown[] = [];
/** Every batch each consumer was given, to hand one to its handler a second time. */
const delivered: Record<string, DynamoDBStreamEvent[]> = {};
const handlers: Record<string, Handler> = {};

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

const streamArnOf = async (id: TableId): Promise<string> => {
  const described = await tables.client.send(
    new DescribeTableCommand({ TableName: id === 'tasks' ? tables.tasksTable : tables.auditTable }),
  );

  return described.Table?.LatestStreamArn ?? '';
};

beforeAll(async () => {
  const endpoint = inject('dynamoEndpoint');
  tables = await createEventTables(endpoint, 'evprod');
  process.env[TABLES.events.envVar] = tables.eventsTable;
  process.env.DYNAMODB_ENDPOINT = endpoint;
  streams = new DynamoDBStreamsClient({ endpoint });
  tasks = taskItems(tables.client, tables.tasksTable);
  audit = new DynamoDbAuditStore(tables.client, tables.auditTable);

  for (const consumer of STREAM_CONSUMERS.filter((c) => c.id.startsWith('publish'))) {
    const handler = (await loadHandler(consumer.handler)) as Handler;
    handlers[consumer.id] = handler;
    delivered[consumer.id] = [];
    pollers.push(
      startStreamPoller({
        client: streams,
        streamArn: await streamArnOf(consumer.table),
        consumer,
        region: LOCAL_AWS_ENV.AWS_REGION,
        invoke: async (event) => {
          delivered[consumer.id]?.push(event);
          return handler(event);
        },
        onFailure: (failure) => {
          failures.push(failure);
        },
        logger: silent,
      }),
    );
  }
});

afterAll(async () => {
  await Promise.all(pollers.map(async (poller) => poller.stop()));
  streams.destroy();
  tables.client.destroy();
});

const settled = async (): Promise<void> => {
  await Promise.all(pollers.map(async (poller) => poller.whenIdle()));
};

const taskEventsOf = async (taskId: string): Promise<StoredEvent[]> =>
  (await tables.store().readEvents('task_updates', 0, 1_000)).filter(
    (event) => event.data.task_id === taskId,
  );

describe('the task_updates producer', () => {
  it('announces a task creation and each status change, in order, owned by the task owner', async () => {
    const taskId = await tasks.createTask({ owner: 'service:alpha', requestId: 'req-order' });
    await tasks.moveTask(taskId, 'accepted', 'running', { attempts: 1 });
    await tasks.moveTask(taskId, 'running', 'completed', {
      result: { analysis_complete: true, insights_count: 4, insights: [{ kind: 'x' }] },
    });
    await settled();

    const events = await taskEventsOf(taskId);

    expect(events.map((event) => event.data.status)).toEqual(['accepted', 'running', 'completed']);
    expect(events.map((event) => Number(event.id))).toEqual(
      [...events.map((event) => Number(event.id))].sort((a, b) => a - b),
    );
    expect(events[2]).toMatchObject({
      channel: 'task_updates',
      type: 'task.updated',
      owner: 'service:alpha',
      requestId: 'req-order',
      data: {
        task_id: taskId,
        status: 'completed',
        type: 'data_analysis',
        attempts: 1,
        result: { analysis_complete: true, insights_count: 4 },
      },
    });
    expect(events[2]?.data.result).not.toHaveProperty('insights');
    expect(events[0]?.data).not.toHaveProperty('result');
    expect(failures).toEqual([]);
  });

  it('announces nothing for a write that leaves the status as it was', async () => {
    const taskId = await tasks.createTask({ owner: 'service:alpha' });
    await tasks.moveTask(taskId, 'accepted', 'running', { attempts: 1 });
    await tasks.touchTask(taskId);
    await tasks.touchTask(taskId);
    await tasks.moveTask(taskId, 'running', 'failed', {
      error: { code: 'DATASET_UNREADABLE', message: 'The dataset could not be read.' },
    });
    await settled();

    const events = await taskEventsOf(taskId);

    expect(events.map((event) => event.data.status)).toEqual(['accepted', 'running', 'failed']);
    expect(events[2]?.data.error).toEqual({
      code: 'DATASET_UNREADABLE',
      message: 'The dataset could not be read.',
    });
  });

  it('names the top-level keys of a result that is not a data analysis', async () => {
    const taskId = await tasks.createTask({ owner: 'service:beta', type: 'echo' });
    await tasks.moveTask(taskId, 'accepted', 'running');
    await tasks.moveTask(taskId, 'running', 'completed', { result: { echoed: 'hi', size: 2 } });
    await settled();

    const [, , completed] = await taskEventsOf(taskId);

    expect(completed?.data.result).toEqual({ keys: ['echoed', 'size'] });
    expect(completed?.owner).toBe('service:beta');
  });

  it('publishes nothing twice when the stream delivers a batch again', async () => {
    const taskId = await tasks.createTask({ owner: 'service:alpha' });
    await tasks.moveTask(taskId, 'accepted', 'running');
    await settled();
    const before = await tables.store().latestSeq('task_updates');
    const batches = delivered.publishTaskEvents ?? [];

    for (const batch of batches) {
      await handlers.publishTaskEvents?.(batch);
    }

    expect(batches.length).toBeGreaterThan(0);
    expect(await tables.store().latestSeq('task_updates')).toBe(before);
    expect((await taskEventsOf(taskId)).map((event) => event.data.status)).toEqual([
      'accepted',
      'running',
    ]);
  });
});

describe('the audit_events producer', () => {
  it('announces each new entry once with its unsealed fields, and ignores later updates', async () => {
    const entry = auditEntryAt(new Date(), {
      operation: 'task.cancel',
      identity: 'service:gamma',
      requestId: 'req-audit-event',
    });
    await audit.append(entry);
    await settled();
    // A seal-like update of the entry comes back as a MODIFY record.
    await tables.client.send(
      new UpdateItemCommand({
        TableName: tables.auditTable,
        Key: auditEntryKey(entry.audit_id),
        UpdateExpression: 'SET sealed_at = :now',
        ExpressionAttributeValues: { ':now': { S: new Date().toISOString() } },
      }),
    );
    await settled();

    const events = (await tables.store().readEvents('audit_events', 0, 1_000)).filter(
      (event) => event.data.audit_id === entry.audit_id,
    );

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      channel: 'audit_events',
      type: 'audit.created',
      timestamp: entry.timestamp,
      requestId: 'req-audit-event',
      data: {
        audit_id: entry.audit_id,
        timestamp: entry.timestamp,
        service: entry.service,
        operation: 'task.cancel',
        identity: 'service:gamma',
        outcome: entry.outcome,
        resource: entry.resource,
      },
    });
    expect(events[0]).not.toHaveProperty('owner');
    expect(events[0]?.data).not.toHaveProperty('details');
    expect(failures).toEqual([]);
  });
});
