/**
 * Tasks executed for real through the local runtime: created over HTTP, delivered by the
 * tasks table's stream to the `executeTasks` consumer, run, retried, cancelled and timed out,
 * and read back over HTTP. The datasets folder holds the shipped samples beside two broken
 * fixtures; the test-only task types come in through the runtime's `extraTaskTypes`.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { physicalTableName } from '@shared/catalog/tables';
import { DynamoDbTaskStore } from '@shared/tasks/dynamodb-task-store';
import {
  registerTaskExecutor,
  unregisterTaskExecutor,
} from '@shared/tasks/executors/executor-registry';
import { taskAuditEntry } from '@shared/tasks/task-runner';
import { REDELIVER_AFTER_SECONDS } from '@shared/tasks/task-sweeper';
import { taskPk, type StoredTask } from '@shared/tasks/task-store';
import { invokeHandler, loadHandler, REPOSITORY_ROOT } from '@local/handlers';
import type { LocalGateway } from '@local/runtime';
import { accessToken, ADMIN_CLIENT, useAdminClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { acceptedTask, createTask as storeTask } from '@test/fixtures/tasks';
import { recordsOf, TASK_STREAM_RECORDER } from '@test/fixtures/stream-recorder';
import {
  ECHO_TASK,
  executorCalls,
  FAILING_TASK,
  FLAKY_ERROR_CODE,
  HANGING_TASK,
  LATE_ECHO_TASK,
  LONG_TASK,
  longTaskEndings,
  TEST_TASK_TYPES,
} from '@test/fixtures/test-task-types';

const POLL_INTERVAL_MS = 100;
const FINAL_STATUSES = ['completed', 'failed', 'cancelled'];

let gateway: LocalGateway;
let token: string;
let datasetsDir: string;

beforeAll(async () => {
  useAdminClient();
  datasetsDir = mkdtempSync(join(tmpdir(), 'blux-datasets-'));
  for (const file of ['sample.csv', 'sample.jsonl']) {
    copyFileSync(join(REPOSITORY_ROOT, 'datasets', file), join(datasetsDir, file));
  }
  for (const file of ['malformed.jsonl', 'ragged.csv']) {
    copyFileSync(join(REPOSITORY_ROOT, 'test/fixtures/datasets', file), join(datasetsDir, file));
  }
  gateway = await startTestGateway({
    extraTaskTypes: TEST_TASK_TYPES,
    extraStreamConsumers: [TASK_STREAM_RECORDER],
    datasetsDir,
  });
  token = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
});

afterAll(async () => {
  unregisterTaskExecutor(LATE_ECHO_TASK.type.name);
  await gateway?.stop();
  rmSync(datasetsDir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

const call = async (method: string, path: string, body?: unknown): Promise<[number, Json]> => {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  return [response.status, (await response.json()) as Json];
};

const createTask = async (type: string, payload: unknown): Promise<string> => {
  const [status, body] = await call('POST', '/v1/tasks', { type, payload });
  expect(status, JSON.stringify(body)).toBe(202);

  return String(body.task_id);
};

const getTask = async (taskId: string): Promise<Json> => {
  const [status, body] = await call('GET', `/v1/tasks/${taskId}`);
  expect(status).toBe(200);

  return body;
};

/** The task once `done` holds for it, polling over HTTP; fails the test after `timeoutMs`. */
const waitForTask = async (
  taskId: string,
  done: (task: Json) => boolean = (task) => FINAL_STATUSES.includes(String(task.status)),
  timeoutMs = 20_000,
): Promise<Json> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await getTask(taskId);
    if (done(task)) {
      return task;
    }
    if (Date.now() > deadline) {
      throw new Error(`task ${taskId} is still ${String(task.status)}: ${JSON.stringify(task)}`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
};

/** Cells the sample writes for a missing value: nothing at all, or `NA`. */
const SAMPLE_MISSING_CELLS = new Set(['', 'NA']);

/** A CSV column's numbers, read the simple way: the sample has no quoted fields. */
const sampleColumn = (name: string): { values: number[]; missing: number } => {
  const [header, ...rows] = readFileSync(join(REPOSITORY_ROOT, 'datasets/sample.csv'), 'utf8')
    .trim()
    .split('\n');
  const index = (header ?? '').split(',').indexOf(name);
  const cells = rows.map((row) => (row.split(',')[index] ?? '').trim());
  const present = cells.filter((cell) => !SAMPLE_MISSING_CELLS.has(cell));

  return { values: present.map(Number), missing: cells.length - present.length };
};

describe('data_analysis through the local runtime', () => {
  it('completes on the sample dataset with statistics that match the file', async () => {
    const taskId = await createTask('data_analysis', {
      data_references: ['ref://dataset/sample'],
    });

    const task = await waitForTask(taskId);

    const result = task.result as {
      analysis_complete: boolean;
      insights_count: number;
      insights: unknown[];
      statistics: Record<string, Record<string, Json>>;
    };
    const temperature = result.statistics['ref://dataset/sample']?.temperature_c;
    const pressure = result.statistics['ref://dataset/sample']?.pressure_hpa;
    const { values } = sampleColumn('temperature_c');
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(task.status).toBe('completed');
    expect(task.attempts).toBe(1);
    expect(result.analysis_complete).toBe(true);
    expect(result.insights_count).toBe(result.insights.length);
    expect(temperature?.count).toBe(values.length);
    expect(temperature?.mean as number).toBeCloseTo(mean, 9);
    expect(temperature?.min).toBe(Math.min(...values));
    expect(temperature?.max).toBe(Math.max(...values));
    expect(pressure?.missing).toBe(sampleColumn('pressure_hpa').missing);
    expect(pressure?.count).toBe(sampleColumn('pressure_hpa').values.length);
    expect(sampleColumn('pressure_hpa').missing).toBeGreaterThan(0);
  });

  it('keeps an audit trail of creation, execution and completion, in order', async () => {
    const taskId = await createTask('data_analysis', {
      data_references: ['ref://dataset/sample.jsonl'],
    });

    const task = await waitForTask(taskId);

    expect(task.status).toBe('completed');
    expect(task.audit_trail).toHaveLength(3);
    const [, audit] = await call(
      'GET',
      `/v1/audit?service=blux-lite&identity=service:${ADMIN_CLIENT.id}&order=asc&limit=500`,
    );
    const entries = (audit.entries as Json[]).filter(
      (entry) => (entry.resource as Json | null)?.id === taskId,
    );
    expect(entries.map((entry) => entry.operation)).toEqual([
      'task.create',
      'task.execute',
      'task.complete',
    ]);
    expect(entries.map((entry) => entry.audit_id)).toEqual(task.audit_trail);
  });

  it('fails a task on a dataset that does not exist, at once and with a clear error', async () => {
    const taskId = await createTask('data_analysis', {
      data_references: ['ref://dataset/sample', 'ref://dataset/no-such-dataset'],
    });

    const task = await waitForTask(taskId);

    expect(task.status).toBe('failed');
    expect(task.attempts).toBe(1);
    expect(task.error).toEqual({
      code: 'dataset.notFound',
      message: 'Dataset "ref://dataset/no-such-dataset" does not exist.',
    });
    expect(task.result).toBeUndefined();
  });

  it('fails a task on a malformed dataset with the line that broke', async () => {
    const taskId = await createTask('data_analysis', {
      data_references: ['ref://dataset/malformed'],
    });

    const task = await waitForTask(taskId);

    const error = task.error as { code: string; message: string };
    expect(task.status).toBe('failed');
    expect(task.attempts).toBe(1);
    expect(error.code).toBe('dataAnalysis.parseFailed');
    expect(error.message).toMatch(/^In ref:\/\/dataset\/malformed, line 3: /);
  });
});

describe('retries, duplicates, cancellation and timeouts through the local runtime', () => {
  it('retries a failing executor with backoff, then fails it after maxAttempts', async () => {
    const taskId = await createTask(FAILING_TASK.type.name, {});

    const task = await waitForTask(taskId);

    expect(task.status).toBe('failed');
    expect(task.attempts).toBe(FAILING_TASK.type.maxAttempts);
    expect(executorCalls.get(taskId)).toBe(FAILING_TASK.type.maxAttempts);
    expect((task.error as Json).code).toBe(FLAKY_ERROR_CODE);
    // task.create, then task.execute and task.fail for every attempt.
    expect(task.audit_trail).toHaveLength(1 + 2 * FAILING_TASK.type.maxAttempts);
  });

  it('runs a task once when its stream record is delivered a second time', async () => {
    const taskId = await createTask(ECHO_TASK.type.name, { say: 'once' });
    const first = await waitForTask(taskId);
    await gateway.whenIdle();
    const insert = recordsOf(taskPk(taskId)).find((record) => record.eventName === 'INSERT');
    expect(insert?.dynamodb?.NewImage?.status?.S).toBe('accepted');
    const handler = await loadHandler('functions/execute-tasks.ts');

    const response = (await invokeHandler(handler, 'blux-local-executeTasks', {
      Records: [insert],
    })) as DynamoDBBatchResponse;

    const again = await getTask(taskId);
    expect(first.status).toBe('completed');
    expect(first.result).toEqual({ echo: { say: 'once' } });
    expect(response.batchItemFailures).toEqual([]);
    expect(executorCalls.get(taskId)).toBe(1);
    expect(again.status).toBe('completed');
    expect(again.audit_trail).toEqual(first.audit_trail);
    expect(again.updated_at).toBe(first.updated_at);
  });

  it('stops a running long task at its next checkpoint when it is cancelled', async () => {
    const taskId = await createTask(LONG_TASK.type.name, {});
    await waitForTask(taskId, (task) => task.status === 'running');

    const [status, cancelled] = await call('POST', `/v1/tasks/${taskId}/cancel`);
    const cancelledAt = Date.now();
    while (!longTaskEndings.has(taskId) && Date.now() - cancelledAt < 5_000) {
      await sleep(10);
    }
    const stoppedAfterMs = Date.now() - cancelledAt;
    await gateway.whenIdle();

    const task = await getTask(taskId);
    expect(status).toBe(200);
    expect(cancelled.status).toBe('cancelled');
    expect(longTaskEndings.get(taskId)).toBe('task.cancelled');
    expect(stoppedAfterMs).toBeLessThan(1_000);
    expect(task.status).toBe('cancelled');
    expect(task.result).toBeUndefined();
    expect(executorCalls.get(taskId)).toBe(1);
    expect(task.audit_trail).toHaveLength(3);
  });

  it('fails a task that runs past its type’s timeout, without retrying it', async () => {
    const taskId = await createTask(HANGING_TASK.type.name, {});

    const task = await waitForTask(taskId);

    const startedMs = Date.parse(String(task.started_at));
    const finishedMs = Date.parse(String(task.finished_at));
    expect(task.status).toBe('failed');
    expect((task.error as Json).code).toBe('task.timedOut');
    expect(task.attempts).toBe(1);
    expect(executorCalls.get(taskId)).toBe(1);
    expect(finishedMs - startedMs).toBeGreaterThanOrEqual(HANGING_TASK.type.timeoutSeconds * 1000);
  });
});

describe('the sweeper through the local runtime', () => {
  let client: DynamoDBClient;
  let store: DynamoDbTaskStore;
  let lost: StoredTask;
  let crashed: StoredTask;

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: gateway.dynamoEndpoint });
    const audit = new DynamoDbAuditStore(client, physicalTableName(gateway.stage, 'audit'));
    store = new DynamoDbTaskStore(client, physicalTableName(gateway.stage, 'tasks'), audit);
    const longAgo = new Date(Date.now() - 2 * REDELIVER_AFTER_SECONDS * 1000);
    const owned = (payload: unknown): StoredTask => ({
      ...acceptedTask(LATE_ECHO_TASK.type.name, payload, longAgo),
      owner: `service:${ADMIN_CLIENT.id}`,
    });
    // Stored before their type exists: the executor passes over their records as unknown.
    lost = await storeTask(store, owned({ n: 1 }));
    crashed = await storeTask(store, owned({ n: 2 }));
    await store.transition({
      taskId: crashed.task_id,
      from: 'accepted',
      to: 'running',
      audit: taskAuditEntry(crashed, 'task.execute', 'success', { attempt: 1 }, longAgo),
      set: {
        attempts: 1,
        started_at: longAgo.toISOString(),
        lease: { worker: 'gateway:crashed', expires_at: new Date(Date.now() - 1000).toISOString() },
      },
    });
    await gateway.whenIdle();
    registerTaskExecutor(LATE_ECHO_TASK);
  });

  afterAll(() => {
    client.destroy();
  });

  it('redelivers an accepted task whose record was passed over, and it runs', async () => {
    const task = await waitForTask(lost.task_id);

    expect(task.status).toBe('completed');
    expect(task.result).toEqual({ echo: { n: 1 } });
    expect(task.attempts).toBe(1);
    expect(executorCalls.get(lost.task_id)).toBe(1);
  });

  it('takes back an attempt whose lease ran out and runs the task again', async () => {
    const task = await waitForTask(crashed.task_id);

    expect(task.status).toBe('completed');
    expect(task.attempts).toBe(2);
    expect(executorCalls.get(crashed.task_id)).toBe(1);
    // create, the crashed execute, the sweeper's fail (lease spent), execute, complete.
    expect(task.audit_trail).toHaveLength(5);
    expect((await store.get(crashed.task_id))?.error).toBeUndefined();
  });
});
