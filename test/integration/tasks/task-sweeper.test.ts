/**
 * The sweeper over the DynamoDB task store and its version-only redelivery, on DynamoDB
 * Local: what it finds through `by_queue`, what its writes change, and what they leave alone.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoDbTaskRedelivery } from '@shared/tasks/dynamodb-task-redelivery';
import { TASK_TIMED_OUT_CODE } from '@shared/tasks/retry-policy';
import {
  REDELIVER_AFTER_SECONDS,
  TASK_ATTEMPT_LOST_CODE,
  TaskSweeper,
} from '@shared/tasks/task-sweeper';
import type { StoredTask } from '@shared/tasks/task-store';
import { DATA_ANALYSIS_TASK_TYPE } from '@shared/tasks/task-types';
import {
  createTaskTables,
  newStoredTask,
  taskAuditEntry,
  type TaskTables,
} from '@test/fixtures/task-tables';

let tables: TaskTables;

beforeAll(async () => {
  tables = await createTaskTables(inject('dynamoEndpoint'), 'sweeper');
});

afterAll(() => {
  tables.client.destroy();
});

const PAYLOAD = { data_references: ['ref://dataset/sample'] };

/** A `data_analysis` task created `ageSeconds` ago, stored with its `task.create` entry. */
const created = async (ageSeconds: number): Promise<StoredTask> => {
  const task = newStoredTask('service:sweeper', new Date(Date.now() - ageSeconds * 1000), {
    type: DATA_ANALYSIS_TASK_TYPE.name,
    payload: PAYLOAD,
  });
  await tables.store().create(task, taskAuditEntry(task, 'task.create'));

  return (await tables.store().get(task.task_id)) as StoredTask;
};

/** Claims `task` with a lease that ran out `expiredSeconds` ago, as a crashed attempt leaves it. */
const crashed = async (task: StoredTask, attempts: number, expiredSeconds: number) =>
  tables.store().transition({
    taskId: task.task_id,
    from: 'accepted',
    to: 'running',
    audit: taskAuditEntry(task, 'task.execute'),
    set: {
      attempts,
      lease: {
        worker: 'gateway:crashed-function',
        expires_at: new Date(Date.now() - expiredSeconds * 1000).toISOString(),
      },
    },
  });

/** A sweeper of `data_analysis` alone, so that other files' types never count here. */
const sweeper = (): TaskSweeper =>
  new TaskSweeper({
    store: tables.store(),
    redelivery: new DynamoDbTaskRedelivery(tables.client, tables.tasksTable),
    types: () => [DATA_ANALYSIS_TASK_TYPE],
  });

describe('sweeping the tasks table', () => {
  it('redelivers a stale accepted task by moving its version alone', async () => {
    const task = await created(REDELIVER_AFTER_SECONDS + 5);

    const report = await sweeper().sweep();

    const after = (await tables.store().get(task.task_id)) as StoredTask;
    expect(report.redelivered).toBeGreaterThanOrEqual(1);
    expect(after.version).toBe(task.version + 1);
    expect({ ...after, version: 0, updated_at: '' }).toEqual({
      ...task,
      version: 0,
      updated_at: '',
    });
  });

  it('does not redeliver a task claimed since the sweep read it', async () => {
    const task = await created(REDELIVER_AFTER_SECONDS + 5);
    await crashed(task, 1, -600);
    const redelivery = new DynamoDbTaskRedelivery(tables.client, tables.tasksTable);

    expect(await redelivery.redeliver(task)).toBe(false);
    expect((await tables.store().get(task.task_id))?.status).toBe('running');
  });

  it('leaves a task created a moment ago to its stream record', async () => {
    const task = await created(0);

    await sweeper().sweep();

    expect((await tables.store().get(task.task_id))?.version).toBe(task.version);
  });

  it('takes back an attempt whose lease ran out, for a retry or as timed out', async () => {
    const retried = await created(600);
    const exhausted = await created(600);
    await crashed(retried, 1, 5);
    await crashed(exhausted, DATA_ANALYSIS_TASK_TYPE.maxAttempts, 5);

    const report = await sweeper().sweep();

    const back = await tables.store().get(retried.task_id);
    const failed = await tables.store().get(exhausted.task_id);
    expect(report.retried).toBeGreaterThanOrEqual(1);
    expect(report.failed).toBeGreaterThanOrEqual(1);
    expect(back?.status).toBe('accepted');
    expect(back?.lease).toBeUndefined();
    expect(back?.error?.code).toBe(TASK_ATTEMPT_LOST_CODE);
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.code).toBe(TASK_TIMED_OUT_CODE);
    expect(failed?.audit_trail).toHaveLength(3);
    expect(await tables.hasAuditEntry(failed?.audit_trail.at(-1) ?? '')).toBe(true);
  });
});
