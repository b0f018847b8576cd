import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerMetricSink, unregisterMetricSink, type MetricSink } from '@shared/metrics/metrics';
import { DatasetNotFoundError } from '@shared/tasks/datasets/dataset-store';
import type { TaskExecutor } from '@shared/tasks/executors/task-executor';
import {
  nextAttemptDelayMs,
  TASK_CANCELLED_CODE,
  TASK_TIMED_OUT_CODE,
} from '@shared/tasks/retry-policy';
import {
  MAX_INLINE_RETRY_WAIT_MS,
  TASK_EXECUTION_FAILED_CODE,
  TASK_LEASE_GRACE_SECONDS,
  TaskRunner,
  taskAuditEntry,
} from '@shared/tasks/task-runner';
import type { StoredTask } from '@shared/tasks/task-store';
import { DOCUMENT_REVIEW_TASK_TYPE, type TaskType } from '@shared/tasks/task-types';
import { z } from '@shared/validation/schema';
import { MemoryTaskStore } from '@test/fixtures/memory-task-store';
import { acceptedTask, createTask } from '@test/fixtures/tasks';
import { FlakyBackendError, FLAKY_ERROR_CODE } from '@test/fixtures/test-task-types';

const WORKER = 'gateway:blux-test-executeTasks';
const START_MS = Date.UTC(2026, 11, 3, 21, 0, 0);
const HALF = (): number => 0.5;

const testType = (overrides: Partial<TaskType> = {}): TaskType => ({
  name: 'test_work',
  payload: z.looseObject({}),
  scopes: [],
  workerScopes: [],
  timeoutSeconds: 30,
  expectedDurationSeconds: 1,
  maxAttempts: 3,
  execution: 'internal',
  ...overrides,
});

interface Harness {
  readonly store: MemoryTaskStore;
  readonly runner: TaskRunner;
  readonly waits: number[];
  /** Calls of the executor, by task id. */
  readonly calls: Map<string, number>;
  advance(ms: number): void;
}

/** A runner over a memory store whose clock moves only when the test (or a wait) moves it. */
const harness = (type: TaskType, executor: TaskExecutor): Harness => {
  let nowMs = START_MS;
  const now = (): Date => new Date(nowMs);
  const store = new MemoryTaskStore(now);
  const waits: number[] = [];
  const calls = new Map<string, number>();
  const runner = new TaskRunner({
    store,
    worker: WORKER,
    now,
    random: HALF,
    sleep: async (ms) => {
      waits.push(ms);
      nowMs += ms;
    },
    findType: (name) => (name === type.name ? type : undefined),
    executorFor: (found) =>
      found.name === type.name
        ? async (execution) => {
            calls.set(execution.task.task_id, (calls.get(execution.task.task_id) ?? 0) + 1);

            return executor(execution);
          }
        : undefined,
  });

  return {
    store,
    runner,
    waits,
    calls,
    advance: (ms) => {
      nowMs += ms;
    },
  };
};

const created = async (h: Harness, type: TaskType): Promise<StoredTask> =>
  createTask(h.store, acceptedTask(type.name, {}, new Date(START_MS)));

const latest = (h: Harness, taskId: string): StoredTask => {
  const task = h.store.tasks.get(taskId);
  if (task === undefined) throw new Error(`no task ${taskId}`);

  return task;
};

const operationsOf = (h: Harness, taskId: string): string[] =>
  h.store.auditOf(taskId).map((entry) => entry.operation);

const recorded: { name: string; value: number; type: string | undefined }[] = [];
const sink: MetricSink = {
  record: (name, value, dimensions) => recorded.push({ name, value, type: dimensions.type }),
};

beforeEach(() => {
  recorded.length = 0;
  registerMetricSink(sink);
});

afterEach(() => {
  unregisterMetricSink(sink);
});

describe('TaskRunner: a successful attempt', () => {
  it('claims, runs and completes the task with its result and audit entries', async () => {
    const type = testType();
    const h = harness(type, async ({ task }) => ({ echoed: task.task_id }));
    const task = await created(h, type);

    const outcome = await h.runner.run(task);

    const done = latest(h, task.task_id);
    expect(outcome).toBe('completed');
    expect(done.status).toBe('completed');
    expect(done.result).toEqual({ echoed: task.task_id });
    expect(done.attempts).toBe(1);
    expect(done.lease).toBeUndefined();
    expect(done.started_at).toBe(new Date(START_MS).toISOString());
    expect(done.finished_at).toBe(new Date(START_MS).toISOString());
    expect(operationsOf(h, task.task_id)).toEqual(['task.create', 'task.execute', 'task.complete']);
    expect(done.audit_trail).toEqual(h.store.auditOf(task.task_id).map((entry) => entry.audit_id));
    expect(recorded.map((metric) => metric.name)).toEqual(['TaskDuration', 'TasksCompleted']);
    expect(recorded.every((metric) => metric.type === type.name)).toBe(true);
  });

  it('holds a lease in its own name for the timeout plus the grace while it runs', async () => {
    const type = testType({ timeoutSeconds: 120 });
    let seen: StoredTask | undefined;
    const h = harness(type, async ({ task }) => {
      seen = task;

      return null;
    });
    const task = await created(h, type);

    await h.runner.run(task);

    expect(seen?.status).toBe('running');
    expect(seen?.lease).toEqual({
      worker: WORKER,
      expires_at: new Date(START_MS + (120 + TASK_LEASE_GRACE_SECONDS) * 1000).toISOString(),
    });
  });

  it('writes audit entries in the owner’s name with the creating request’s id', async () => {
    const type = testType();
    const h = harness(type, async () => 'done');
    const task = await created(h, type);

    await h.runner.run(task);

    const entries = h.store.auditOf(task.task_id).slice(1);
    expect(entries.map((entry) => entry.service)).toEqual(['blux-lite', 'blux-lite']);
    expect(entries.map((entry) => entry.identity)).toEqual([task.owner, task.owner]);
    expect(entries.map((entry) => entry.request_id)).toEqual([task.request_id, task.request_id]);
    expect(entries[0]?.details).toMatchObject({ attempt: 1, worker: WORKER });
  });
});

describe('TaskRunner: duplicate and late deliveries', () => {
  it('skips a second delivery of a record: the claim conflicts, nothing runs', async () => {
    const type = testType();
    const h = harness(type, async () => 'once');
    const task = await created(h, type);

    const outcomes = [await h.runner.run(task), await h.runner.run(task)];

    expect(outcomes).toEqual(['completed', 'skipped']);
    expect(h.calls.get(task.task_id)).toBe(1);
    expect(operationsOf(h, task.task_id)).toEqual(['task.create', 'task.execute', 'task.complete']);
  });

  it('runs a task once when two deliveries of its record arrive at the same time', async () => {
    const type = testType();
    const h = harness(type, async () => {
      await sleep(20);

      return 'once';
    });
    const task = await created(h, type);

    const outcomes = await Promise.all([h.runner.run(task), h.runner.run(task)]);

    expect(outcomes.sort()).toEqual(['completed', 'skipped']);
    expect(h.calls.get(task.task_id)).toBe(1);
  });

  it('ignores records of running or finished tasks, which cannot move it backwards', async () => {
    const type = testType();
    const h = harness(type, async () => 'once');
    const task = await created(h, type);
    await h.runner.run(task);
    const [running, completed] = h.store.records.slice(-2) as [StoredTask, StoredTask];

    const outcomes = [await h.runner.run(running), await h.runner.run(completed)];

    expect(running.status).toBe('running');
    expect(outcomes).toEqual(['ignored', 'ignored']);
    expect(latest(h, task.task_id).status).toBe('completed');
    expect(h.calls.get(task.task_id)).toBe(1);
  });

  it('skips an old accepted record of a task that is accepted again for a retry', async () => {
    const type = testType({ maxAttempts: 2 });
    let fail = true;
    const h = harness(type, async () => {
      if (fail) throw new FlakyBackendError();

      return 'second attempt';
    });
    const task = await created(h, type);
    await h.runner.run(task);
    fail = false;

    // The creation's record is `accepted` as the task is again, but at a version it has left.
    const late = await h.runner.run(task);
    const retried = await h.runner.run(latest(h, task.task_id));

    expect([late, retried]).toEqual(['skipped', 'completed']);
    expect(h.calls.get(task.task_id)).toBe(2);
    expect(h.waits).toEqual([nextAttemptDelayMs(1, HALF)]);
  });

  it('ignores external and unknown types, which are not the gateway’s to run', async () => {
    const type = testType();
    const h = harness(type, async () => 'never');
    const external = await createTask(h.store, acceptedTask(DOCUMENT_REVIEW_TASK_TYPE.name));
    const unknown = await createTask(h.store, acceptedTask('no_such_type'));

    expect(await h.runner.run(external)).toBe('ignored');
    expect(await h.runner.run(unknown)).toBe('ignored');
    expect(latest(h, external.task_id).status).toBe('accepted');
  });
});

describe('TaskRunner: failures', () => {
  it('retries a retryable failure with backoff, then fails after maxAttempts', async () => {
    const type = testType({ maxAttempts: 3 });
    const h = harness(type, async () => {
      throw new FlakyBackendError();
    });
    const task = await created(h, type);
    const outcomes = [await h.runner.run(task)];

    // Each retry is a new record of the task, back in `accepted` with a `retry_at`.
    const afterFirst = latest(h, task.task_id);
    expect(afterFirst.status).toBe('accepted');
    expect(afterFirst.retry_at).toBe(
      new Date(START_MS + nextAttemptDelayMs(1, HALF)).toISOString(),
    );
    expect(afterFirst.error).toEqual({
      code: FLAKY_ERROR_CODE,
      message: 'The test backend refused the work.',
    });
    outcomes.push(await h.runner.run(afterFirst));
    outcomes.push(await h.runner.run(latest(h, task.task_id)));

    const failed = latest(h, task.task_id);
    expect(outcomes).toEqual(['retrying', 'retrying', 'failed']);
    expect(h.waits).toEqual([nextAttemptDelayMs(1, HALF), nextAttemptDelayMs(2, HALF)]);
    expect(failed.status).toBe('failed');
    expect(failed.attempts).toBe(3);
    expect(failed.error?.code).toBe(FLAKY_ERROR_CODE);
    expect(failed.retry_at).toBeUndefined();
    expect(operationsOf(h, task.task_id)).toEqual([
      'task.create',
      ...Array(3).fill(['task.execute', 'task.fail']).flat(),
    ]);
    expect(h.store.auditOf(task.task_id).at(-1)?.details).toMatchObject({ will_retry: false });
    expect(recorded.filter((metric) => metric.name === 'TaskRetries')).toHaveLength(2);
    expect(recorded.filter((metric) => metric.name === 'TasksFailed')).toHaveLength(1);
  });

  it('fails at once on a permanent error, with the error’s own message', async () => {
    const type = testType({ maxAttempts: 3 });
    const h = harness(type, async () => {
      throw new DatasetNotFoundError('ref://dataset/absent');
    });
    const task = await created(h, type);

    const outcome = await h.runner.run(task);

    const failed = latest(h, task.task_id);
    expect(outcome).toBe('failed');
    expect(failed.attempts).toBe(1);
    expect(failed.error).toEqual({
      code: 'dataset.notFound',
      message: 'Dataset "ref://dataset/absent" does not exist.',
    });
  });

  it('tells the owner only a generic message for an error not meant to be shown', async () => {
    const type = testType({ maxAttempts: 1 });
    const h = harness(type, async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.7:5432');
    });
    const task = await created(h, type);

    await h.runner.run(task);

    const failed = latest(h, task.task_id);
    expect(failed.error?.code).toBe(TASK_EXECUTION_FAILED_CODE);
    expect(failed.error?.message).not.toContain('10.0.0.7');
  });

  it('leaves a retry due later than it waits to the sweeper, without claiming it', async () => {
    const type = testType();
    const h = harness(type, async () => 'never');
    const task = await created(h, type);
    const due = {
      ...task,
      retry_at: new Date(START_MS + MAX_INLINE_RETRY_WAIT_MS + 1).toISOString(),
    };

    expect(await h.runner.run(due)).toBe('deferred');
    expect(h.calls.size).toBe(0);
    expect(latest(h, task.task_id).status).toBe('accepted');
  });
});

describe('TaskRunner: timeouts and cancellation', () => {
  it('fails an attempt that runs past its timeout, even one that ignores its signal', async () => {
    const type = testType({ timeoutSeconds: 0.05, maxAttempts: 3 });
    const h = harness(type, () => new Promise(() => undefined));
    const task = await created(h, type);

    const outcome = await h.runner.run(task);

    const failed = latest(h, task.task_id);
    expect(outcome).toBe('timedOut');
    expect(failed.status).toBe('failed');
    expect(failed.attempts).toBe(1);
    expect(failed.error?.code).toBe(TASK_TIMED_OUT_CODE);
  });

  it('aborts the signal at the timeout, so that a cooperative executor stops', async () => {
    const type = testType({ timeoutSeconds: 0.05 });
    let reason: unknown;
    const h = harness(type, ({ signal }) => {
      return new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          reason = signal.reason;
          reject(new Error('stopped'));
        });
      });
    });
    const task = await created(h, type);

    await h.runner.run(task);

    expect((reason as { code?: string }).code).toBe(TASK_TIMED_OUT_CODE);
    expect(latest(h, task.task_id).error?.code).toBe(TASK_TIMED_OUT_CODE);
  });

  it('stops a cancelled task at its next checkpoint and writes nothing more', async () => {
    const type = testType();
    let stepsAfterCancel = 0;
    let cancelled = false;
    const h = harness(type, async ({ checkpoint }) => {
      for (let step = 0; step < 500; step++) {
        await sleep(5);
        if (cancelled) stepsAfterCancel += 1;
        await checkpoint();
      }

      return 'ran to the end';
    });
    const task = await created(h, type);

    const running = h.runner.run(task);
    await sleep(30);
    const current = latest(h, task.task_id);
    expect(current.status).toBe('running');
    await h.store.transition({
      taskId: task.task_id,
      from: 'running',
      to: 'cancelled',
      audit: taskAuditEntry(task, 'task.cancel', 'success', {}, new Date(START_MS)),
    });
    cancelled = true;
    const outcome = await running;

    expect(outcome).toBe('stopped');
    expect(stepsAfterCancel).toBe(1);
    expect(latest(h, task.task_id).status).toBe('cancelled');
    expect(latest(h, task.task_id).result).toBeUndefined();
    expect(operationsOf(h, task.task_id)).not.toContain('task.complete');
    expect(recorded.filter((metric) => metric.name === 'TasksCancelled')).toHaveLength(1);
  });

  it('rejects every later checkpoint with the cancellation once stopped', async () => {
    const type = testType();
    const seen: unknown[] = [];
    const h = harness(type, async ({ checkpoint }) => {
      for (let step = 0; step < 2; step++) {
        await checkpoint().catch((error: unknown) => seen.push(error));
      }

      return 'swallowed the stop';
    });
    const task = await created(h, type);
    const claimedStore = h.store;
    const originalGet = claimedStore.get.bind(claimedStore);
    claimedStore.get = async (id) =>
      ({ ...(await originalGet(id)), status: 'cancelled' }) as StoredTask;

    const outcome = await h.runner.run(task);

    expect(seen).toHaveLength(2);
    expect(seen.map((error) => (error as { code?: string }).code)).toEqual([
      TASK_CANCELLED_CODE,
      TASK_CANCELLED_CODE,
    ]);
    expect(outcome).toBe('stopped');
    expect(latest(h, task.task_id).status).toBe('running');
  });
});
