import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IDEMPOTENCY_SK, idempotencyPk } from '@shared/tasks/dynamodb-idempotency-store';
import { taskKey } from '@shared/tasks/dynamodb-task-items';
import {
  completeIdempotencyRecord,
  newIdempotencyRecord,
  IDEMPOTENCY_LOCK_SECONDS,
} from '@shared/tasks/idempotency';
import { IdempotencyKeyLostError } from '@shared/tasks/idempotency-store';
import { TaskTransitionError } from '@shared/tasks/task';
import { TaskConflictError, type StoredTask } from '@shared/tasks/task-store';
import {
  createTaskTables,
  newStoredTask,
  taskAuditEntry,
  type TaskTables,
} from '@test/fixtures/task-tables';

let tables: TaskTables;

beforeAll(async () => {
  tables = await createTaskTables(inject('dynamoEndpoint'), 'taskstore');
});

afterAll(() => {
  tables.client.destroy();
});

/** Creates a task with its `task.create` entry and returns it as stored. */
const created = async (task: StoredTask): Promise<StoredTask> => {
  const store = tables.store();
  await store.create(task, taskAuditEntry(task, 'task.create'));
  const stored = await store.get(task.task_id);
  if (stored === undefined) {
    throw new Error('the task was not stored');
  }

  return stored;
};

const start = (task: StoredTask, lease?: { worker: string; expires_at: string }) =>
  tables.store().transition({
    taskId: task.task_id,
    from: 'accepted',
    to: 'running',
    audit: taskAuditEntry(task, 'task.execute'),
    set: { attempts: task.attempts + 1, ...(lease === undefined ? {} : { lease }) },
  });

const inSeconds = (seconds: number, from = new Date()): string =>
  new Date(from.getTime() + seconds * 1000).toISOString();

describe('creating a task', () => {
  it('stores the task and its task.create entry together, the entry first in the trail', async () => {
    const task = newStoredTask('service:creator');
    const entry = taskAuditEntry(task, 'task.create');

    await tables.store().create(task, entry);
    const stored = await tables.store().get(task.task_id);

    expect(stored).toEqual({ ...task, audit_trail: [entry.audit_id] });
    expect(await tables.hasAuditEntry(entry.audit_id)).toBe(true);
  });

  it('keeps any JSON in context, payload and result as it was given', async () => {
    const context = { nested: { list: [1, 'two', null, true] }, emoji: '🦆', empty: {} };
    const task = await created(newStoredTask('service:json', new Date(), { context }));

    expect(task.context).toEqual(context);
    expect(task.payload).toEqual({ document_url: 'https://docs.example/contract.pdf' });
  });

  it('writes neither the task nor its entry when the task id exists already', async () => {
    const task = await created(newStoredTask('service:twice'));
    const second = taskAuditEntry(task, 'task.create');

    await expect(tables.store().create(task, second)).rejects.toBeInstanceOf(TaskConflictError);

    expect(await tables.hasAuditEntry(second.audit_id)).toBe(false);
  });

  it('writes neither the task nor its entry when the audit entry cannot be written', async () => {
    const first = await created(newStoredTask('service:audit-clash'));
    const reused = taskAuditEntry(first, 'task.create');
    await tables.store().create(newStoredTask('service:audit-clash'), reused);
    const task = newStoredTask('service:audit-clash');

    // The same audit id twice: the audit put's condition fails, and so does the whole write.
    await expect(tables.store().create(task, reused)).rejects.toThrow();

    expect(await tables.store().get(task.task_id)).toBeUndefined();
  });
});

describe('transitions', () => {
  it('moves a task, bumps its version and appends each entry to the trail in order', async () => {
    const task = await created(newStoredTask('service:mover'));
    const running = await start(task);
    const doneEntry = taskAuditEntry(task, 'task.complete');

    const completed = await tables.store().transition({
      taskId: task.task_id,
      from: 'running',
      to: 'completed',
      audit: doneEntry,
      set: { result: { answer: 42 } },
    });
    const stored = await tables.store().get(task.task_id);

    expect(running).toMatchObject({ status: 'running', attempts: 1, version: 2 });
    expect(running.started_at).toBeDefined();
    expect(stored).toEqual(completed);
    expect(stored).toMatchObject({ status: 'completed', version: 3, result: { answer: 42 } });
    expect(stored?.finished_at).toBeDefined();
    expect(stored?.audit_trail).toEqual([
      task.audit_trail[0],
      running.audit_trail[1],
      doneEntry.audit_id,
    ]);
    expect(await tables.hasAuditEntry(doneEntry.audit_id)).toBe(true);
  });

  it('lets exactly one of two racing deliveries start a task; the other gets a conflict', async () => {
    const task = await created(newStoredTask('service:racer'));

    const outcomes = await Promise.allSettled([start(task), start(task), start(task)]);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
    );
    const stored = await tables.store().get(task.task_id);

    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(2);
    expect(lost.every((reason) => reason instanceof TaskConflictError)).toBe(true);
    expect(stored).toMatchObject({ status: 'running', attempts: 1, version: 2 });
    expect(stored?.audit_trail).toHaveLength(2);
  });

  it('writes no audit entry for a transition that lost', async () => {
    const task = await created(newStoredTask('service:loser'));
    await start(task);
    const late = taskAuditEntry(task, 'task.execute');

    await expect(
      tables
        .store()
        .transition({ taskId: task.task_id, from: 'accepted', to: 'running', audit: late }),
    ).rejects.toBeInstanceOf(TaskConflictError);

    expect(await tables.hasAuditEntry(late.audit_id)).toBe(false);
  });

  it('refuses a transition pinned to a version the task has left', async () => {
    const task = await created(newStoredTask('service:pinned'));
    await start(task);

    await expect(
      tables.store().transition({
        taskId: task.task_id,
        from: 'running',
        to: 'completed',
        expectedVersion: 1,
        audit: taskAuditEntry(task, 'task.complete'),
      }),
    ).rejects.toBeInstanceOf(TaskConflictError);
    expect((await tables.store().get(task.task_id))?.status).toBe('running');
  });

  it('never moves a final task, and refuses moves the lifecycle does not have', async () => {
    const task = await created(newStoredTask('service:final'));
    await tables.store().transition({
      taskId: task.task_id,
      from: 'accepted',
      to: 'cancelled',
      audit: taskAuditEntry(task, 'task.cancel'),
    });

    await expect(start(task)).rejects.toBeInstanceOf(TaskConflictError);
    await expect(
      tables.store().transition({
        taskId: task.task_id,
        from: 'cancelled',
        to: 'accepted',
        audit: taskAuditEntry(task, 'task.execute'),
      }),
    ).rejects.toBeInstanceOf(TaskTransitionError);
    expect(await tables.store().get(task.task_id)).toMatchObject({
      status: 'cancelled',
      version: 2,
    });
  });

  it('answers a conflict for a task that does not exist', async () => {
    const ghost = newStoredTask('service:ghost');

    await expect(start(ghost)).rejects.toBeInstanceOf(TaskConflictError);
  });

  it('puts a retried task back in line with its retry_at and drops its lease', async () => {
    const task = await created(newStoredTask('service:retry'));
    await start(task, { worker: 'service:w', expires_at: inSeconds(60) });
    const retryAt = inSeconds(30);

    const back = await tables.store().transition({
      taskId: task.task_id,
      from: 'running',
      to: 'accepted',
      audit: taskAuditEntry(task, 'task.fail'),
      set: { retry_at: retryAt, error: { code: 'worker.failed', message: 'try again' } },
    });

    expect(back).toMatchObject({ status: 'accepted', retry_at: retryAt, attempts: 1 });
    expect(back.lease).toBeUndefined();
    expect(await tables.store().get(task.task_id)).toEqual(back);
  });
});

describe('the queue', () => {
  const type = 'document_review';

  it('lists due accepted tasks oldest first, not those waiting for a retry, nor final ones', async () => {
    // A queue of its own: another type name keeps other tests' tasks out of it.
    const queue = `queue_${Date.now()}`;
    const base = Date.now() - 60_000;
    const tasks = await Promise.all(
      [0, 1, 2, 3].map((step) =>
        created(newStoredTask('service:queue', new Date(base + step * 1000), { type: queue })),
      ),
    );
    const [oldest, waiting, finished, newest] = tasks as [
      StoredTask,
      StoredTask,
      StoredTask,
      StoredTask,
    ];
    await tables.store().transition({
      taskId: finished.task_id,
      from: 'accepted',
      to: 'cancelled',
      audit: taskAuditEntry(finished, 'task.cancel'),
    });
    await start(waiting, { worker: 'service:w', expires_at: inSeconds(5) });
    await tables.store().transition({
      taskId: waiting.task_id,
      from: 'running',
      to: 'accepted',
      audit: taskAuditEntry(waiting, 'task.fail'),
      set: { retry_at: inSeconds(600) },
    });

    const due = await tables.store().dueTasks(queue, new Date().toISOString(), 10);
    const later = await tables.store().dueTasks(queue, inSeconds(700), 10);

    expect(due.map((task) => task.task_id)).toEqual([oldest.task_id, newest.task_id]);
    expect(later.map((task) => task.task_id)).toEqual([
      oldest.task_id,
      newest.task_id,
      waiting.task_id,
    ]);
    expect((await tables.store().dueTasks(queue, new Date().toISOString(), 1)).length).toBe(1);
  });

  it('lists a running task once its lease has run out, and not before', async () => {
    const task = await created(
      newStoredTask('service:lease', new Date(), { type: `lease_${Date.now()}` }),
    );
    const expiresAt = inSeconds(120);
    await start(task, { worker: 'service:w', expires_at: expiresAt });

    const before = await tables.store().dueTasks(task.type, inSeconds(119), 10);
    const after = await tables.store().dueTasks(task.type, expiresAt, 10);

    expect(before).toEqual([]);
    expect(after.map((due) => [due.task_id, due.status])).toEqual([[task.task_id, 'running']]);
  });

  it('holds a running task without a lease until its type could have timed out', async () => {
    const task = await created(newStoredTask('service:internal', new Date(), { type }));
    const running = await start(task);
    const startedAt = new Date(running.started_at ?? '');

    const item = await tables.client.send(
      new GetItemCommand({ TableName: tables.tasksTable, Key: taskKey(task.task_id) }),
    );

    // document_review allows 3600 s an attempt.
    expect(item.Item?.available_at?.S).toBe(inSeconds(3600, startedAt));
    expect(item.Item?.queue_pk?.S).toBe(type);
  });

  it('removes a final task from the queue index', async () => {
    const task = await created(newStoredTask('service:gone'));
    await tables.store().transition({
      taskId: task.task_id,
      from: 'accepted',
      to: 'cancelled',
      audit: taskAuditEntry(task, 'task.cancel'),
    });

    const item = await tables.client.send(
      new GetItemCommand({ TableName: tables.tasksTable, Key: taskKey(task.task_id) }),
    );

    expect(item.Item?.queue_pk).toBeUndefined();
    expect(item.Item?.available_at).toBeUndefined();
  });
});

describe('leases', () => {
  it('extends the holder’s lease and moves its place in the queue', async () => {
    const task = await created(newStoredTask('service:extend'));
    const running = await start(task, { worker: 'service:holder', expires_at: inSeconds(30) });
    const later = inSeconds(300);

    const extended = await tables.store().extendLease(task.task_id, 'service:holder', later);

    expect(extended.lease).toEqual({ worker: 'service:holder', expires_at: later });
    expect(extended.version).toBe(running.version + 1);
    expect(await tables.store().dueTasks(task.type, inSeconds(299), 1000)).not.toContainEqual(
      expect.objectContaining({ task_id: task.task_id }),
    );
  });

  it('refuses to extend for a worker that does not hold the lease', async () => {
    const task = await created(newStoredTask('service:thief'));
    await start(task, { worker: 'service:holder', expires_at: inSeconds(30) });

    await expect(
      tables.store().extendLease(task.task_id, 'service:other', inSeconds(60)),
    ).rejects.toBeInstanceOf(TaskConflictError);
  });

  it('refuses to extend a lease that has run out, even for its holder', async () => {
    const task = await created(newStoredTask('service:late'));
    await start(task, { worker: 'service:holder', expires_at: inSeconds(10) });
    const afterExpiry = tables.store({ now: () => new Date(Date.now() + 11_000) });

    await expect(
      afterExpiry.extendLease(task.task_id, 'service:holder', inSeconds(60)),
    ).rejects.toBeInstanceOf(TaskConflictError);
  });

  it('survives a lease extension racing a transition that does not pin a version', async () => {
    const task = await created(newStoredTask('service:both'));
    await start(task, { worker: 'service:holder', expires_at: inSeconds(60) });

    const [extended, cancelled] = await Promise.allSettled([
      tables.store().extendLease(task.task_id, 'service:holder', inSeconds(120)),
      tables.store().transition({
        taskId: task.task_id,
        from: 'running',
        to: 'cancelled',
        audit: taskAuditEntry(task, 'task.cancel'),
      }),
    ]);

    // Whichever came first, the cancel went through: a moved version alone is retried.
    expect(cancelled.status).toBe('fulfilled');
    expect(['fulfilled', 'rejected']).toContain(extended.status);
    expect((await tables.store().get(task.task_id))?.status).toBe('cancelled');
  });
});

describe('listing an owner’s tasks', () => {
  const owner = 'service:lister';
  const other = 'service:someone-else';
  let mine: StoredTask[];

  beforeAll(async () => {
    const base = Date.now() - 3_600_000;
    mine = [];
    for (let index = 0; index < 12; index += 1) {
      const at = new Date(base + index * 1000);
      const type = index % 3 === 0 ? 'data_analysis' : 'document_review';
      mine.push(await created(newStoredTask(owner, at, { type })));
      await created(newStoredTask(other, at));
    }
    for (const task of mine.filter((_, index) => index % 4 === 1)) {
      await tables.store().transition({
        taskId: task.task_id,
        from: 'accepted',
        to: 'cancelled',
        audit: taskAuditEntry(task, 'task.cancel'),
      });
    }
  });

  const listAll = async (query: {
    status?: 'cancelled' | 'accepted';
    type?: string;
    limit: number;
  }) => {
    const ids: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await tables.store().list({ owner, ...query, cursor });
      expect(page.tasks.length).toBeLessThanOrEqual(query.limit);
      ids.push(...page.tasks.map((task) => task.task_id));
      cursor = page.cursor;
      pages += 1;
    } while (cursor !== undefined && pages < 100);

    return { ids, pages };
  };

  const newestFirst = (tasks: StoredTask[]): string[] =>
    tasks.map((task) => task.task_id).reverse();

  it('lists only the owner’s tasks, newest first, a page at a time', async () => {
    const { ids, pages } = await listAll({ limit: 5 });

    expect(ids).toEqual(newestFirst(mine));
    expect(pages).toBe(3);
  });

  it('filters by status and by type, together or apart', async () => {
    const cancelled = mine.filter((_, index) => index % 4 === 1);
    const analyses = mine.filter((task) => task.type === 'data_analysis');

    expect((await listAll({ status: 'cancelled', limit: 2 })).ids).toEqual(newestFirst(cancelled));
    expect((await listAll({ type: 'data_analysis', limit: 3 })).ids).toEqual(newestFirst(analyses));
    expect((await listAll({ status: 'cancelled', type: 'data_analysis', limit: 10 })).ids).toEqual(
      newestFirst(cancelled.filter((task) => task.type === 'data_analysis')),
    );
  });

  it('ends without a cursor when the last page is exactly full', async () => {
    const page = await tables.store().list({ owner, limit: 12 });

    expect(page.tasks).toHaveLength(12);
    expect(page.cursor).toBeUndefined();
  });
});

describe('recent durations', () => {
  it('gives the seconds of the latest completed tasks of a type, newest first', async () => {
    const type = `timed_${Date.now()}`;
    const durations = [3, 5, 8];
    for (const seconds of durations) {
      const task = await created(newStoredTask('service:timer', new Date(), { type }));
      const startedAt = new Date(Date.now() - seconds * 1000);
      await tables.store().transition({
        taskId: task.task_id,
        from: 'accepted',
        to: 'running',
        audit: taskAuditEntry(task, 'task.execute'),
        set: { attempts: 1, started_at: startedAt.toISOString() },
      });
      await tables.store().transition({
        taskId: task.task_id,
        from: 'running',
        to: 'completed',
        audit: taskAuditEntry(task, 'task.complete'),
        set: { finished_at: inSeconds(seconds, startedAt), result: {} },
      });
    }
    const failed = await created(newStoredTask('service:timer', new Date(), { type }));
    await start(failed);
    await tables.store().transition({
      taskId: failed.task_id,
      from: 'running',
      to: 'failed',
      audit: taskAuditEntry(failed, 'task.fail'),
      set: { error: { code: 'x.y', message: 'no' } },
    });

    const recent = await tables.store().recentDurations(type, 10);

    // Completed only, by finished_at: the 3 s task finished first, the 8 s one last.
    expect(recent.sort((a, b) => a - b)).toEqual([3, 5, 8]);
    expect(await tables.store().recentDurations(type, 2)).toHaveLength(2);
  });
});

describe('the idempotency store', () => {
  const ref = (key: string) => ({ identity: 'service:idem', key });

  it('lets one request take a free key, and refuses it to the next', async () => {
    const now = new Date();
    const record = newIdempotencyRecord('fp-1', now);

    expect(await tables.idempotency.acquire(ref('k-take'), record, now)).toBe(true);
    expect(
      await tables.idempotency.acquire(ref('k-take'), newIdempotencyRecord('fp-1', now), now),
    ).toBe(false);
    expect(await tables.idempotency.find(ref('k-take'))).toEqual(record);
  });

  it('keeps keys of different identities apart', async () => {
    const now = new Date();

    expect(
      await tables.idempotency.acquire(ref('k-shared'), newIdempotencyRecord('a', now), now),
    ).toBe(true);
    expect(
      await tables.idempotency.acquire(
        { identity: 'service:other', key: 'k-shared' },
        newIdempotencyRecord('a', now),
        now,
      ),
    ).toBe(true);
  });

  it('hands a key whose lock ran out to a retry of the same body only', async () => {
    const first = new Date(Date.now() - (IDEMPOTENCY_LOCK_SECONDS + 1) * 1000);
    const now = new Date();
    await tables.idempotency.acquire(ref('k-lock'), newIdempotencyRecord('fp-same', first), first);

    expect(
      await tables.idempotency.acquire(ref('k-lock'), newIdempotencyRecord('fp-other', now), now),
    ).toBe(false);
    expect(
      await tables.idempotency.acquire(ref('k-lock'), newIdempotencyRecord('fp-same', now), now),
    ).toBe(true);
  });

  it('frees a key on release, but only for the request that holds it', async () => {
    const now = new Date();
    const held = newIdempotencyRecord('fp-r', now);
    await tables.idempotency.acquire(ref('k-release'), held, now);

    await tables.idempotency.release(ref('k-release'), {
      ...held,
      created_at: '2000-01-01T00:00:00.000Z',
    });
    expect(await tables.idempotency.find(ref('k-release'))).toEqual(held);
    await tables.idempotency.release(ref('k-release'), held);
    expect(await tables.idempotency.find(ref('k-release'))).toBeUndefined();
  });

  it('completes the key in the same transaction that creates the task', async () => {
    const now = new Date();
    const held = newIdempotencyRecord('fp-c', now);
    const task = newStoredTask('service:idem');
    const response = {
      status: 202,
      headers: { Location: `/v1/tasks/${task.task_id}` },
      body: { task_id: task.task_id },
    };
    const completed = completeIdempotencyRecord(held, response);
    await tables.idempotency.acquire(ref('k-complete'), held, now);

    await tables.store().createWithIdempotency(task, taskAuditEntry(task, 'task.create'), {
      ...ref('k-complete'),
      held,
      completed,
    });

    expect(await tables.idempotency.find(ref('k-complete'))).toEqual(completed);
    expect(await tables.store().get(task.task_id)).toBeDefined();
  });

  it('creates nothing when the key was lost to another request meanwhile', async () => {
    const now = new Date();
    const held = newIdempotencyRecord('fp-lost', now);
    const task = newStoredTask('service:idem');
    const entry = taskAuditEntry(task, 'task.create');
    await tables.idempotency.acquire(ref('k-lost'), held, now);
    await tables.client.send(
      new DeleteItemCommand({
        TableName: tables.tasksTable,
        Key: { pk: { S: idempotencyPk(ref('k-lost')) }, sk: { S: IDEMPOTENCY_SK } },
      }),
    );

    await expect(
      tables.store().createWithIdempotency(task, entry, {
        ...ref('k-lost'),
        held,
        completed: completeIdempotencyRecord(held, { status: 202, headers: {}, body: {} }),
      }),
    ).rejects.toBeInstanceOf(IdempotencyKeyLostError);

    expect(await tables.store().get(task.task_id)).toBeUndefined();
    expect(await tables.hasAuditEntry(entry.audit_id)).toBe(false);
  });
});
