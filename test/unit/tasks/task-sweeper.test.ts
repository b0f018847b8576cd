import { describe, expect, it } from 'vitest';
import { nextAttemptDelayMs, TASK_TIMED_OUT_CODE } from '@shared/tasks/retry-policy';
import {
  internalTaskTypes,
  REDELIVER_AFTER_SECONDS,
  TASK_ATTEMPT_LOST_CODE,
  TaskSweeper,
} from '@shared/tasks/task-sweeper';
import type { StoredTask } from '@shared/tasks/task-store';
import { DATA_ANALYSIS_TASK_TYPE, DOCUMENT_REVIEW_TASK_TYPE } from '@shared/tasks/task-types';
import { taskAuditEntry } from '@shared/tasks/task-runner';
import { MemoryTaskStore } from '@test/fixtures/memory-task-store';
import { acceptedTask, createTask } from '@test/fixtures/tasks';

const START_MS = Date.UTC(2026, 11, 3, 21, 0, 0);
const HALF = (): number => 0.5;
const type = DATA_ANALYSIS_TASK_TYPE;

const setUp = () => {
  let nowMs = START_MS;
  const now = (): Date => new Date(nowMs);
  const store = new MemoryTaskStore(now);
  const sweeper = new TaskSweeper({ store, redelivery: store, now, random: HALF });

  return {
    store,
    sweeper,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
};

/** Claims a task as the runner would, with a lease that ends `leaseMs` from the start. */
const running = async (
  store: MemoryTaskStore,
  task: StoredTask,
  attempts: number,
  leaseMs: number,
): Promise<StoredTask> =>
  store.transition({
    taskId: task.task_id,
    from: 'accepted',
    to: 'running',
    set: {
      attempts,
      started_at: new Date(START_MS).toISOString(),
      lease: { worker: 'gateway:crashed', expires_at: new Date(START_MS + leaseMs).toISOString() },
    },
    audit: taskAuditEntry(task, 'task.execute', 'success', {}, new Date(START_MS)),
  });

describe('TaskSweeper: accepted tasks', () => {
  it('redelivers an accepted task nobody claimed once it has been due long enough', async () => {
    const { store, sweeper, advance } = setUp();
    const task = await createTask(store, acceptedTask(type.name, {}, new Date(START_MS)));
    advance(REDELIVER_AFTER_SECONDS * 1000);
    const recordsBefore = store.records.length;

    const report = await sweeper.sweep();

    expect(report).toEqual({ redelivered: 1, retried: 0, failed: 0 });
    expect(store.records.length).toBe(recordsBefore + 1);
    expect(store.records.at(-1)?.version).toBe(task.version + 1);
    expect(store.records.at(-1)?.status).toBe('accepted');
    // Nothing about the task changed but its version: no entry goes with a redelivery.
    expect(store.auditOf(task.task_id).map((entry) => entry.operation)).toEqual(['task.create']);
  });

  it('leaves a task just created to the stream that is about to deliver it', async () => {
    const { store, sweeper, advance } = setUp();
    await createTask(store, acceptedTask(type.name, {}, new Date(START_MS)));
    advance(REDELIVER_AFTER_SECONDS * 1000 - 1);

    expect(await sweeper.sweep()).toEqual({ redelivered: 0, retried: 0, failed: 0 });
  });

  it('counts a retry as due from its retry_at, not from the creation', async () => {
    const { store, sweeper, advance } = setUp();
    const task = acceptedTask(type.name, {}, new Date(START_MS));
    const retryAt = new Date(START_MS + 60_000).toISOString();
    await createTask(store, { ...task, retry_at: retryAt });
    advance(60_000 + REDELIVER_AFTER_SECONDS * 1000 - 1);
    const early = await sweeper.sweep();
    advance(1);

    expect(early.redelivered).toBe(0);
    expect((await sweeper.sweep()).redelivered).toBe(1);
  });
});

describe('TaskSweeper: running tasks', () => {
  it('puts a task with a spent lease back for another attempt while any are left', async () => {
    const { store, sweeper, advance } = setUp();
    const task = await createTask(store, acceptedTask(type.name, {}, new Date(START_MS)));
    await running(store, task, 1, 1_000);
    advance(1_000);

    const report = await sweeper.sweep();

    const back = store.tasks.get(task.task_id);
    expect(report).toEqual({ redelivered: 0, retried: 1, failed: 0 });
    expect(back?.status).toBe('accepted');
    expect(back?.lease).toBeUndefined();
    expect(back?.error?.code).toBe(TASK_ATTEMPT_LOST_CODE);
    expect(back?.retry_at).toBe(
      new Date(START_MS + 1_000 + nextAttemptDelayMs(1, HALF)).toISOString(),
    );
    expect(store.auditOf(task.task_id).at(-1)?.operation).toBe('task.fail');
  });

  it('fails as timed out a task whose lease ran out on its last attempt', async () => {
    const { store, sweeper, advance } = setUp();
    const task = await createTask(store, acceptedTask(type.name, {}, new Date(START_MS)));
    await running(store, task, type.maxAttempts, 1_000);
    advance(1_000);

    const report = await sweeper.sweep();

    const failed = store.tasks.get(task.task_id);
    expect(report).toEqual({ redelivered: 0, retried: 0, failed: 1 });
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.code).toBe(TASK_TIMED_OUT_CODE);
    expect(failed?.finished_at).toBe(new Date(START_MS + 1_000).toISOString());
  });

  it('leaves a running task alone while its lease lasts', async () => {
    const { store, sweeper, advance } = setUp();
    const task = await createTask(store, acceptedTask(type.name, {}, new Date(START_MS)));
    await running(store, task, 1, 10_000);
    advance(9_999);

    expect(await sweeper.sweep()).toEqual({ redelivered: 0, retried: 0, failed: 0 });
    expect(store.tasks.get(task.task_id)?.status).toBe('running');
  });
});

describe('TaskSweeper: types', () => {
  it('sweeps internal types only: external workers claim their own tasks', async () => {
    const { store, sweeper, advance } = setUp();
    const external = await createTask(
      store,
      acceptedTask(DOCUMENT_REVIEW_TASK_TYPE.name, {}, new Date(START_MS)),
    );
    advance(REDELIVER_AFTER_SECONDS * 10_000);

    expect(internalTaskTypes().map((found) => found.name)).toContain(type.name);
    expect(internalTaskTypes().map((found) => found.name)).not.toContain(external.type);
    expect(await sweeper.sweep()).toEqual({ redelivered: 0, retried: 0, failed: 0 });
  });
});
