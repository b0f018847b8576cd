import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import { MIN_LEASE_SECONDS } from '@shared/tasks/task-workers';
import { useAdminClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { callApi, clientToken, reviewRequest, type ApiReply } from '@test/fixtures/task-api';

let gateway: LocalGateway;
let owner: { token: string; identity: string };
let workerA: { token: string; identity: string };
let workerB: { token: string; identity: string };

beforeAll(async () => {
  useAdminClient();
  gateway = await startTestGateway();
  owner = await clientToken(gateway, 'review-owner', ['tasks:read', 'tasks:write']);
  workerA = await clientToken(gateway, 'reviewer-a', ['tasks:execute']);
  workerB = await clientToken(gateway, 'reviewer-b', ['tasks:execute']);
});

afterAll(async () => {
  await gateway.stop();
});

const POLL_INTERVAL_MS = 100;
const MAX_POLL_MS = 10_000;

/**
 * What a worker does: asks for a task of its types until one comes, then hands it to `work`.
 * `work` gets the calls a worker makes on its task.
 */
const runWorker = async <T>(
  token: string,
  work: (task: ApiReply['body'], calls: WorkerCalls) => Promise<T>,
  leaseSeconds = 30,
): Promise<T> => {
  const deadline = Date.now() + MAX_POLL_MS;
  while (Date.now() < deadline) {
    const claim = await callApi(gateway, 'POST', '/v1/tasks/claims', {
      token,
      body: { types: ['document_review'], lease_seconds: leaseSeconds },
    });
    if (claim.status === 200) {
      return work(claim.body, workerCalls(token, claim.body.task_id as string));
    }
    expect(claim.status).toBe(204);
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error('the worker found no task to claim');
};

interface WorkerCalls {
  extend(seconds: number): Promise<ApiReply>;
  complete(result: unknown): Promise<ApiReply>;
  fail(error: { code: string; message: string }, retryable?: boolean): Promise<ApiReply>;
}

const workerCalls = (token: string, taskId: string): WorkerCalls => ({
  extend: (seconds) =>
    callApi(gateway, 'POST', `/v1/tasks/${taskId}/lease`, {
      token,
      body: { lease_seconds: seconds },
    }),
  complete: (result) =>
    callApi(gateway, 'POST', `/v1/tasks/${taskId}/complete`, { token, body: { result } }),
  fail: (error, retryable) =>
    callApi(gateway, 'POST', `/v1/tasks/${taskId}/fail`, {
      token,
      body: { error, ...(retryable === undefined ? {} : { retryable }) },
    }),
});

const createReview = async (name: string): Promise<string> => {
  const reply = await callApi(gateway, 'POST', '/v1/tasks', {
    token: owner.token,
    body: reviewRequest(name, { user_id: 'u-9' }),
  });
  expect(reply.status).toBe(202);

  return reply.body.task_id as string;
};

const ownerView = async (taskId: string): Promise<ApiReply['body']> =>
  (await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: owner.token })).body;

const claimNow = (token: string, body: unknown = { types: ['document_review'] }) =>
  callApi(gateway, 'POST', '/v1/tasks/claims', { token, body });

describe('an external worker', () => {
  it('claims a task with a lease, extends it and completes it', async () => {
    const taskId = await createReview('happy');

    const outcome = await runWorker(workerA.token, async (task, calls) => {
      const extended = await calls.extend(120);
      const completed = await calls.complete({ verdict: 'approved', pages: 3 });

      return { task, extended, completed };
    });
    const view = await ownerView(taskId);

    expect(outcome.task).toMatchObject({
      task_id: taskId,
      type: 'document_review',
      status: 'running',
      attempts: 1,
      payload: reviewRequest('happy').payload,
      context: { user_id: 'u-9' },
      lease: { worker: workerA.identity },
    });
    expect(outcome.extended.status).toBe(200);
    expect(Date.parse(outcome.extended.body.lease.expires_at)).toBeGreaterThan(
      Date.parse(outcome.task.lease.expires_at),
    );
    expect(outcome.completed.status).toBe(200);
    expect(outcome.completed.body).toMatchObject({ status: 'completed', lease: null });
    expect(view).toMatchObject({
      status: 'completed',
      attempts: 1,
      result: { verdict: 'approved', pages: 3 },
    });
    // task.create, task.execute, task.complete; the lease extension is no transition.
    expect(view.audit_trail).toHaveLength(3);
    expect(view.finished_at).not.toBeNull();
  });

  it('answers 204 when nothing is due', async () => {
    const reply = await claimNow(workerA.token);

    expect(reply.status).toBe(204);
    expect(reply.body).toBeUndefined();
  });

  it('loses a task whose lease ran out to the next worker, which completes it', async () => {
    const taskId = await createReview('slow');
    const first = await claimNow(workerA.token, {
      types: ['document_review'],
      lease_seconds: MIN_LEASE_SECONDS,
    });
    expect(first.body.task_id).toBe(taskId);

    const early = await claimNow(workerB.token);
    await sleep(MIN_LEASE_SECONDS * 1000 + 300);
    const second = await runWorker(workerB.token, async (task, calls) => ({
      task,
      completed: await calls.complete({ verdict: 'approved by b' }),
    }));
    const lateA = workerCalls(workerA.token, taskId);
    const lateExtend = await lateA.extend(60);
    const lateComplete = await lateA.complete({ verdict: 'from a, too late' });
    const view = await ownerView(taskId);

    expect(early.status).toBe(204);
    expect(second.task).toMatchObject({
      task_id: taskId,
      attempts: 2,
      lease: { worker: workerB.identity },
    });
    expect(second.completed.status).toBe(200);
    expect(lateExtend.status).toBe(409);
    expect(lateComplete.status).toBe(409);
    expect(lateComplete.body.error.code).toBe('CONFLICT');
    expect(view).toMatchObject({
      status: 'completed',
      attempts: 2,
      result: { verdict: 'approved by b' },
    });
    // create, execute (a), fail (lease expired), execute (b), complete
    expect(view.audit_trail).toHaveLength(5);
  });

  it('refuses extend, complete and fail from a worker that does not hold the lease', async () => {
    const taskId = await createReview('held');
    const claim = await claimNow(workerA.token);
    const intruder = workerCalls(workerB.token, taskId);

    const replies = [
      await intruder.extend(60),
      await intruder.complete({ verdict: 'stolen' }),
      await intruder.fail({ code: 'review.rejected', message: 'not mine' }),
    ];
    const done = await workerCalls(workerA.token, taskId).complete({ verdict: 'mine' });

    expect(claim.body.task_id).toBe(taskId);
    expect(replies.map((reply) => reply.status)).toEqual([409, 409, 409]);
    expect(replies[0]?.body.error.details).toEqual({ task_id: taskId, status: 'running' });
    expect(done.status).toBe(200);
    expect((await ownerView(taskId)).result).toEqual({ verdict: 'mine' });
  });

  it('puts a task back in line after a retryable failure, and fails it for good otherwise', async () => {
    const taskId = await createReview('flaky');
    await claimNow(workerA.token);

    const retried = await workerCalls(workerA.token, taskId).fail({
      code: 'review.unavailable',
      message: 'the reviewing service is down',
    });
    const waiting = await ownerView(taskId);
    const second = await runWorker(workerB.token, async (task, calls) => ({
      task,
      failed: await calls.fail({ code: 'review.rejected', message: 'unreadable scan' }, false),
    }));
    const view = await ownerView(taskId);

    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'accepted', lease: null });
    expect(waiting.status).toBe('accepted');
    expect(waiting.error).toBeUndefined();
    expect(second.task).toMatchObject({ task_id: taskId, attempts: 2 });
    expect(second.failed.body.status).toBe('failed');
    expect(view).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'review.rejected', message: 'unreadable scan' },
    });
    expect(view.result).toBeUndefined();
  });

  it('cannot complete a task its owner cancelled while it ran', async () => {
    const taskId = await createReview('cancelled');
    await claimNow(workerA.token);

    const cancel = await callApi(gateway, 'POST', `/v1/tasks/${taskId}/cancel`, {
      token: owner.token,
    });
    const complete = await workerCalls(workerA.token, taskId).complete({ verdict: 'late' });

    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('cancelled');
    expect(complete.status).toBe(409);
    expect((await ownerView(taskId)).status).toBe('cancelled');
  });
});

describe('the worker routes refuse', () => {
  it('a type that the gateway executes itself, and a lease out of range', async () => {
    const internal = await claimNow(workerA.token, { types: ['data_analysis'] });
    const short = await claimNow(workerA.token, { types: ['document_review'], lease_seconds: 1 });
    const long = await claimNow(workerA.token, { types: ['document_review'], lease_seconds: 901 });
    const none = await claimNow(workerA.token, { types: [] });

    expect(internal.status).toBe(400);
    expect(internal.body.error.details.fields[0].field).toBe('body.types.0');
    expect(short.status).toBe(400);
    expect(long.status).toBe(400);
    expect(none.status).toBe(400);
  });

  it('a caller without tasks:execute', async () => {
    const reply = await claimNow(owner.token);

    expect(reply.status).toBe(403);
    expect(reply.body.error.details.missing).toEqual(['tasks:execute']);
  });

  it('a task that does not exist, or that the gateway executes itself', async () => {
    const analysis = await callApi(gateway, 'POST', '/v1/tasks', {
      token: owner.token,
      body: { type: 'data_analysis', payload: { data_references: ['ref://dataset/none'] } },
    });

    const missing = await workerCalls(workerA.token, 'tsk_00000000000000000000000000').complete({});
    const internal = await workerCalls(workerA.token, analysis.body.task_id as string).complete({});

    expect(missing.status).toBe(404);
    expect(internal.status).toBe(404);
  });

  it('a failure without a proper error', async () => {
    const taskId = await createReview('bad-fail');
    await claimNow(workerA.token);
    const calls = workerCalls(workerA.token, taskId);

    const noMessage = await callApi(gateway, 'POST', `/v1/tasks/${taskId}/fail`, {
      token: workerA.token,
      body: { error: { code: 'x.y' } },
    });
    const badCode = await calls.fail({ code: 'has spaces', message: 'm' });
    await calls.complete({});

    expect(noMessage.status).toBe(400);
    expect(noMessage.body.error.details.fields[0].field).toBe('body.error.message');
    expect(badCode.status).toBe(400);
  });
});
