import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Identity } from '@shared/identity/identity';
import { registerMetricSink, unregisterMetricSink, type MetricSink } from '@shared/metrics/metrics';
import {
  IDEMPOTENCY_LOCK_SECONDS,
  newIdempotencyRecord,
  requestFingerprint,
} from '@shared/tasks/idempotency';
import { createTask, getTask, type TaskServiceDependencies } from '@shared/tasks/task-service';
import {
  claimTask,
  completeTask,
  extendTaskLease,
  failTask,
  LEASE_EXPIRED_ERROR,
  type WorkerDependencies,
} from '@shared/tasks/task-workers';
import { DOCUMENT_REVIEW_TASK_TYPE } from '@shared/tasks/task-types';
import { createTaskTables, type TaskTables } from '@test/fixtures/task-tables';

// Each test queues document_review tasks on tables of its own, with a clock it moves by hand.
let tables: TaskTables;
let clock: Date;
let recorded: { name: string; value: number; dimensions: Record<string, string> }[];
const sink: MetricSink = {
  record: (name, value, dimensions) => recorded.push({ name, value, dimensions }),
};

const identity = (id: string, scopes: string[]): Identity => ({
  id: `service:${id}`,
  kind: 'service',
  subject: id,
  scopes,
  method: 'bearer',
  issuer: 'https://gateway.test',
});

const OWNER = identity('owner', ['tasks:read', 'tasks:write']);
const WORKER_A = { worker: identity('worker-a', ['tasks:execute']), requestId: 'req-a' };
const WORKER_B = { worker: identity('worker-b', ['tasks:execute']), requestId: 'req-b' };

const now = (): Date => clock;
const advance = (seconds: number): void => {
  clock = new Date(clock.getTime() + seconds * 1000);
};

const workers = (): WorkerDependencies => ({ store: tables.store({ now }), now, random: () => 0 });
const service = (): TaskServiceDependencies => ({
  store: tables.store({ now }),
  idempotency: tables.idempotency,
  pageTokenSecret: async () => 'secret',
  now,
});

const newReview = async (idempotencyKey?: string): Promise<string> => {
  const response = await createTask(
    OWNER,
    {
      body: { type: 'document_review', payload: { document_url: 'https://docs.example/a.pdf' } },
      idempotencyKey,
      requestId: 'req-create',
    },
    service(),
  );

  return (response.body as { task_id: string }).task_id;
};

beforeAll(async () => {
  clock = new Date();
  recorded = [];
  tables = await createTaskTables(inject('dynamoEndpoint'), 'workers');
  registerMetricSink(sink);
});

afterAll(() => {
  unregisterMetricSink(sink);
  tables.client.destroy();
});

afterEach(async () => {
  // Leave no task due for the next test: move the clock past anything this one queued.
  advance(10_000);
  let claimed = await claimTask(WORKER_A, { types: ['document_review'] }, workers());
  while (claimed !== undefined) {
    await completeTask(WORKER_A, claimed.task_id, { result: null }, workers());
    claimed = await claimTask(WORKER_A, { types: ['document_review'] }, workers());
  }
});

describe('claims', () => {
  it('fail a task for good once its workers let the lease expire on every attempt', async () => {
    const taskId = await newReview();

    for (let attempt = 1; attempt <= DOCUMENT_REVIEW_TASK_TYPE.maxAttempts; attempt += 1) {
      const claimed = await claimTask(
        WORKER_A,
        { types: ['document_review'], lease_seconds: 5 },
        workers(),
      );
      expect(claimed?.attempts).toBe(attempt);
      advance(6);
    }
    const next = await claimTask(WORKER_B, { types: ['document_review'] }, workers());
    const view = await getTask(OWNER, taskId, service());

    expect(next).toBeUndefined();
    expect(view).toMatchObject({ status: 'failed', attempts: 3, error: LEASE_EXPIRED_ERROR });
    // create, then execute + fail for each of the three attempts
    expect(view.audit_trail).toHaveLength(7);
    expect(recorded).toContainEqual({
      name: 'TasksFailed',
      value: 1,
      dimensions: { type: 'document_review' },
    });
  });

  it('give a task to exactly one of two racing workers', async () => {
    const taskId = await newReview();

    const [a, b] = await Promise.all([
      claimTask(WORKER_A, { types: ['document_review'] }, workers()),
      claimTask(WORKER_B, { types: ['document_review'] }, workers()),
    ]);
    const winners = [a, b].filter((claimed) => claimed !== undefined);

    expect(winners).toHaveLength(1);
    expect(winners[0]?.task_id).toBe(taskId);
    expect((await getTask(OWNER, taskId, service())).attempts).toBe(1);
  });

  it('never lease past the attempt’s timeout, however often the lease is extended', async () => {
    await newReview();
    const claimed = await claimTask(
      WORKER_A,
      { types: ['document_review'], lease_seconds: 900 },
      workers(),
    );
    const timeoutAt =
      Date.parse(claimed?.started_at ?? '') + DOCUMENT_REVIEW_TASK_TYPE.timeoutSeconds * 1000;

    let expiresAt = Date.parse(claimed?.lease?.expires_at ?? '');
    for (let extension = 1; extension <= 4; extension += 1) {
      advance(800);
      const extended = await extendTaskLease(
        WORKER_A,
        claimed?.task_id,
        { lease_seconds: 900 },
        workers(),
      );
      expiresAt = Date.parse(extended.lease?.expires_at ?? '');
    }

    // 3200 s into a 3600 s attempt, a 900 s extension stops at the timeout.
    expect(expiresAt).toBe(timeoutAt);
  });
});

describe('finishing', () => {
  it('records the count and the duration of a completed task', async () => {
    recorded = [];
    await newReview();
    const claimed = await claimTask(WORKER_A, { types: ['document_review'] }, workers());
    advance(12);

    const done = await completeTask(
      WORKER_A,
      claimed?.task_id,
      { result: { ok: true } },
      workers(),
    );

    expect(done.status).toBe('completed');
    expect(recorded).toEqual(
      expect.arrayContaining([
        { name: 'TasksCreated', value: 1, dimensions: { type: 'document_review' } },
        { name: 'TasksCompleted', value: 1, dimensions: { type: 'document_review' } },
        { name: 'TaskDuration', value: 12_000, dimensions: { type: 'document_review' } },
      ]),
    );
  });

  it('retries a retryable failure after its backoff, not before', async () => {
    const taskId = await newReview();
    const claimed = await claimTask(WORKER_A, { types: ['document_review'] }, workers());
    const deps: WorkerDependencies = { ...workers(), random: () => 0.5 };

    const failed = await failTask(
      WORKER_A,
      claimed?.task_id,
      { error: { code: 'review.unavailable', message: 'down' } },
      deps,
    );
    const waiting = await getTask(OWNER, taskId, service());
    const tooEarly = await claimTask(WORKER_B, { types: ['document_review'] }, workers());
    advance(1);
    const again = await claimTask(WORKER_B, { types: ['document_review'] }, workers());

    // First attempt: a delay of half the 1 s bound.
    expect(failed.status).toBe('accepted');
    expect(waiting.retry_at).toBe(new Date(clock.getTime() - 1000 + 500).toISOString());
    expect(tooEarly).toBeUndefined();
    expect(again).toMatchObject({ task_id: taskId, attempts: 2 });
  });

  it('fails a task at once for an error no retry can fix', async () => {
    const taskId = await newReview();
    const claimed = await claimTask(WORKER_A, { types: ['document_review'] }, workers());

    await failTask(
      WORKER_A,
      claimed?.task_id,
      { error: { code: 'dataset.notFound', message: 'no such document' } },
      workers(),
    );

    expect(await getTask(OWNER, taskId, service())).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 'dataset.notFound' },
    });
  });
});

describe('idempotent creation', () => {
  it('lets a retry take over a key whose first request never finished', async () => {
    const record = { identity: OWNER.id, key: 'stuck-key' };
    const body = {
      type: 'document_review',
      payload: { document_url: 'https://docs.example/a.pdf' },
    };
    // A first request that took the key and died before writing anything.
    await tables.idempotency.acquire(
      record,
      newIdempotencyRecord(requestFingerprint(OWNER.id, body), clock),
      clock,
    );

    const refused = createTask(
      OWNER,
      { body, idempotencyKey: 'stuck-key', requestId: 'r1' },
      service(),
    );
    await expect(refused).rejects.toMatchObject({ code: 'CONFLICT' });
    advance(IDEMPOTENCY_LOCK_SECONDS + 1);
    const taken = await createTask(
      OWNER,
      { body, idempotencyKey: 'stuck-key', requestId: 'r2' },
      service(),
    );
    const replayed = await createTask(
      OWNER,
      { body, idempotencyKey: 'stuck-key', requestId: 'r3' },
      service(),
    );

    expect(taken.status).toBe(202);
    expect(replayed).toEqual(taken);
  });
});
