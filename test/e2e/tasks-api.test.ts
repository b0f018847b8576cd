import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import { MAX_TASK_CONTEXT_BYTES } from '@shared/tasks/task-types';
import { useAdminClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { callApi, clientToken, reviewRequest, type ApiReply } from '@test/fixtures/task-api';

let gateway: LocalGateway;
let writer: { token: string; identity: string };
let stranger: { token: string; identity: string };
let readerOnly: { token: string; identity: string };

beforeAll(async () => {
  useAdminClient();
  gateway = await startTestGateway();
  writer = await clientToken(gateway, 'tasks-writer', ['tasks:read', 'tasks:write']);
  stranger = await clientToken(gateway, 'tasks-stranger', ['tasks:read', 'tasks:write']);
  readerOnly = await clientToken(gateway, 'tasks-reader', ['tasks:read']);
});

afterAll(async () => {
  await gateway.stop();
});

const create = (token: string, body: unknown, headers: Record<string, string> = {}) =>
  callApi(gateway, 'POST', '/v1/tasks', { token, body, headers });

const fieldsOf = (reply: ApiReply): string[] =>
  (reply.body.error.details.fields as { field: string }[]).map((issue) => issue.field);

describe('POST /v1/tasks', () => {
  it('answers 202 with the task id, its audit entry, an estimate and a Location', async () => {
    const before = Date.now();

    const reply = await create(writer.token, reviewRequest('a', { user_id: 'u-42' }));

    expect(reply.status).toBe(202);
    expect(Object.keys(reply.body).sort()).toEqual(
      ['audit_id', 'estimated_completion', 'status', 'task_id'].sort(),
    );
    expect(reply.body.status).toBe('accepted');
    expect(reply.body.task_id).toMatch(/^tsk_[0-9A-Z]{26}$/);
    expect(reply.body.audit_id).toMatch(/^aud_[0-9A-Z]{26}$/);
    expect(reply.headers.get('location')).toBe(`/v1/tasks/${reply.body.task_id}`);
    // No document_review has completed yet: the type's declared 300 s.
    const estimate = Date.parse(reply.body.estimated_completion);
    expect(estimate).toBeGreaterThanOrEqual(before + 300_000);
    expect(estimate).toBeLessThanOrEqual(Date.now() + 300_000);
  });

  it('stores the task so that its owner reads it with its trail', async () => {
    const created = await create(writer.token, reviewRequest('b', { user_id: 'u-7', ref: 3 }));

    const reply = await callApi(gateway, 'GET', `/v1/tasks/${created.body.task_id}`, {
      token: writer.token,
    });

    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      task_id: created.body.task_id,
      status: 'accepted',
      type: 'document_review',
      context: { user_id: 'u-7', ref: 3 },
      attempts: 0,
      started_at: null,
      finished_at: null,
      audit_trail: [created.body.audit_id],
    });
    expect(reply.body.result).toBeUndefined();
    expect(reply.body.owner).toBeUndefined();
  });

  it('refuses a type that is not registered, naming body.type', async () => {
    const reply = await create(writer.token, { type: 'mining', payload: {} });

    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION_FAILED');
    expect(fieldsOf(reply)).toEqual(['body.type']);
  });

  it('checks the payload against its type, naming each path', async () => {
    const review = await create(writer.token, {
      type: 'document_review',
      payload: { document_url: 'http://insecure.example/x', extra: 1 },
    });
    const analysis = await create(writer.token, {
      type: 'data_analysis',
      payload: { data_references: ['s3://bucket/x'] },
    });

    expect(review.status).toBe(400);
    expect(fieldsOf(review).sort()).toEqual(['body.payload', 'body.payload.document_url']);
    expect(analysis.status).toBe(400);
    expect(fieldsOf(analysis)).toEqual(['body.payload.data_references.0']);
  });

  it('refuses a context over its size, and a malformed context.user_id', async () => {
    const big = await create(writer.token, {
      ...reviewRequest(),
      context: { blob: 'x'.repeat(MAX_TASK_CONTEXT_BYTES) },
    });
    const badUser = await create(writer.token, { ...reviewRequest(), context: { user_id: 'a b' } });
    const notObject = await create(writer.token, { ...reviewRequest(), context: [1, 2] });

    expect(big.status).toBe(400);
    expect(fieldsOf(big)).toEqual(['body.context']);
    expect(badUser.status).toBe(400);
    expect(fieldsOf(badUser)).toEqual(['body.context.user_id']);
    expect(notObject.status).toBe(400);
    expect(fieldsOf(notObject)).toEqual(['body.context']);
  });

  it('names every bad field at once', async () => {
    const reply = await create(writer.token, { type: 'nope', context: 'x' });

    expect(reply.status).toBe(400);
    expect(fieldsOf(reply).sort()).toEqual(['body.context', 'body.type']);
  });

  it('refuses malformed JSON, a body that is not an object, and a body that is not JSON', async () => {
    const malformed = await callApi(gateway, 'POST', '/v1/tasks', {
      token: writer.token,
      raw: '{"type": "document_review",',
    });
    const array = await create(writer.token, [reviewRequest()]);
    const empty = await callApi(gateway, 'POST', '/v1/tasks', { token: writer.token });
    const text = await callApi(gateway, 'POST', '/v1/tasks', {
      token: writer.token,
      raw: 'type=document_review',
      headers: { 'content-type': 'text/plain' },
    });

    expect(malformed.status).toBe(400);
    expect(fieldsOf(malformed)).toEqual(['body']);
    expect(array.status).toBe(400);
    expect(empty.status).toBe(400);
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a caller without tasks:write with 403, and one without a token with 401', async () => {
    const forbidden = await create(readerOnly.token, reviewRequest());
    const anonymous = await callApi(gateway, 'POST', '/v1/tasks', { body: reviewRequest() });

    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect(forbidden.body.error.details.missing).toEqual(['tasks:write']);
    expect(forbidden.body.error.audit_id).toMatch(/^aud_/);
    expect(anonymous.status).toBe(401);
  });

  it('refuses an Idempotency-Key that is empty, too long or not visible ASCII', async () => {
    for (const key of ['""', 'k'.repeat(256), 'with space', 'cl\u00e9']) {
      const reply = await create(writer.token, reviewRequest(), { 'idempotency-key': key });

      expect(reply.status, key).toBe(400);
      expect(fieldsOf(reply), key).toEqual(['headers.idempotency-key']);
    }
  });
});

describe('ownership', () => {
  let taskId: string;

  beforeAll(async () => {
    taskId = (await create(writer.token, reviewRequest('owned'))).body.task_id as string;
  });

  it('answers 404 to another identity, exactly as for a task that does not exist', async () => {
    const foreign = await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: stranger.token });
    const missing = await callApi(gateway, 'GET', `/v1/tasks/tsk_00000000000000000000000000`, {
      token: stranger.token,
    });
    const malformed = await callApi(gateway, 'GET', '/v1/tasks/not-a-task', {
      token: stranger.token,
    });

    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(malformed.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    expect(foreign.body.error.message).toBe(missing.body.error.message);
    expect(foreign.body.error.details).toEqual(missing.body.error.details);
  });

  it('answers 404 to another identity that tries to cancel, and leaves the task alone', async () => {
    const cancel = await callApi(gateway, 'POST', `/v1/tasks/${taskId}/cancel`, {
      token: stranger.token,
    });
    const mine = await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: writer.token });

    expect(cancel.status).toBe(404);
    expect(mine.body.status).toBe('accepted');
    expect(mine.body.audit_trail).toHaveLength(1);
  });

  it('never lists another identity’s tasks', async () => {
    const listing = await callApi(gateway, 'GET', '/v1/tasks?limit=100', { token: stranger.token });

    expect(listing.status).toBe(200);
    expect(listing.body.tasks.map((task: { task_id: string }) => task.task_id)).not.toContain(
      taskId,
    );
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same body and creates one task', async () => {
    const client = await clientToken(gateway, 'idem-replay', ['tasks:read', 'tasks:write']);
    const headers = { 'idempotency-key': '"order-17"' };

    const first = await create(client.token, reviewRequest('x'), headers);
    // The same key bare, and the same body with its members in another order.
    const again = await callApi(gateway, 'POST', '/v1/tasks', {
      token: client.token,
      raw: JSON.stringify({
        payload: reviewRequest('x').payload,
        context: {},
        type: 'document_review',
      }),
      headers: { 'idempotency-key': 'order-17' },
    });
    const listing = await callApi(gateway, 'GET', '/v1/tasks', { token: client.token });

    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(listing.body.tasks).toHaveLength(1);
  });

  it('answers 422 when the key comes back with another body', async () => {
    const headers = { 'idempotency-key': 'reused-key' };
    await create(writer.token, reviewRequest('one'), headers);

    const reply = await create(writer.token, reviewRequest('two'), headers);

    expect(reply.status).toBe(422);
    expect(reply.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('keeps keys of different identities apart', async () => {
    const headers = { 'idempotency-key': 'shared-key' };

    const mine = await create(writer.token, reviewRequest('s'), headers);
    const theirs = await create(stranger.token, reviewRequest('s'), headers);

    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    expect(theirs.body.task_id).not.toBe(mine.body.task_id);
  });

  it('lets concurrent requests with one key create one task: the others get 409 or the replay', async () => {
    const client = await clientToken(gateway, 'idem-race', ['tasks:read', 'tasks:write']);
    const headers = { 'idempotency-key': 'race-1' };

    const replies = await Promise.all(
      Array.from({ length: 6 }, () => create(client.token, reviewRequest('race'), headers)),
    );
    const accepted = replies.filter((reply) => reply.status === 202);
    const refused = replies.filter((reply) => reply.status === 409);
    const listing = await callApi(gateway, 'GET', '/v1/tasks', { token: client.token });

    expect(accepted.length + refused.length).toBe(replies.length);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(accepted.map((reply) => reply.body.task_id)).size).toBe(1);
    expect(refused.every((reply) => reply.body.error.code === 'CONFLICT')).toBe(true);
    expect(listing.body.tasks).toHaveLength(1);
    expect(listing.body.tasks[0].task_id).toBe(accepted[0]?.body.task_id);
  });
});

describe('GET /v1/tasks', () => {
  let client: { token: string; identity: string };
  const ids: string[] = [];

  beforeAll(async () => {
    client = await clientToken(gateway, 'lister', ['tasks:read', 'tasks:write']);
    for (let index = 0; index < 7; index += 1) {
      const body =
        index % 3 === 0
          ? { type: 'data_analysis', payload: { data_references: ['ref://dataset/none'] } }
          : reviewRequest(`list-${index}`);
      ids.push((await create(client.token, body)).body.task_id as string);
    }
    await callApi(gateway, 'POST', `/v1/tasks/${ids[1]}/cancel`, { token: client.token });
    await callApi(gateway, 'POST', `/v1/tasks/${ids[4]}/cancel`, { token: client.token });
  });

  const listAll = async (query: string): Promise<{ ids: string[]; pages: number }> => {
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const suffix: string = token === null ? '' : `&page_token=${encodeURIComponent(token)}`;
      const reply = await callApi(gateway, 'GET', `/v1/tasks?${query}${suffix}`, {
        token: client.token,
      });
      expect(reply.status).toBe(200);
      seen.push(...reply.body.tasks.map((task: { task_id: string }) => task.task_id));
      token = reply.body.next_page_token as string | null;
      pages += 1;
    } while (token !== null && pages < 20);

    return { ids: seen, pages };
  };

  it('lists the caller’s tasks newest first, 20 to a page unless asked', async () => {
    const reply = await callApi(gateway, 'GET', '/v1/tasks', { token: client.token });

    expect(reply.status).toBe(200);
    expect(reply.body.tasks.map((task: { task_id: string }) => task.task_id)).toEqual(
      [...ids].reverse(),
    );
    expect(reply.body.next_page_token).toBeNull();
    expect(reply.headers.get('cache-control')).toBe('no-store');
  });

  it('pages with opaque tokens, every task once', async () => {
    const { ids: listed, pages } = await listAll('limit=3');

    expect(listed).toEqual([...ids].reverse());
    expect(pages).toBe(3);
  });

  it('filters by status and by type', async () => {
    const cancelled = await listAll('status=cancelled&limit=1');
    const reviews = await listAll('type=document_review&limit=2');

    expect(cancelled.ids).toEqual([ids[4], ids[1]]);
    expect(reviews.ids).toEqual([ids[5], ids[4], ids[2], ids[1]]);
  });

  it('refuses an unknown status, type or parameter and a limit out of range', async () => {
    const cases: [string, string][] = [
      ['status=done', 'query.status'],
      ['type=mining', 'query.type'],
      ['stauts=accepted', 'query.stauts'],
      ['limit=0', 'query.limit'],
      ['limit=101', 'query.limit'],
      ['limit=ten', 'query.limit'],
    ];
    for (const [query, field] of cases) {
      const reply = await callApi(gateway, 'GET', `/v1/tasks?${query}`, { token: client.token });

      expect(reply.status, query).toBe(400);
      expect(fieldsOf(reply), query).toEqual([field]);
    }
  });

  it('refuses a page token that was altered, made for other filters or by another identity', async () => {
    const first = await callApi(gateway, 'GET', '/v1/tasks?limit=2', { token: client.token });
    const token = first.body.next_page_token as string;
    const [payload, mac] = token.split('.') as [string, string];
    const forged = `${Buffer.from(ids[0] ?? '').toString('base64url')}.${mac}`;
    const attempts = [
      { query: `limit=2&page_token=${forged}`, token: client.token },
      { query: `limit=2&page_token=${payload}.${mac.slice(0, -2)}AA`, token: client.token },
      { query: `status=accepted&page_token=${token}`, token: client.token },
      { query: `limit=2&page_token=${token}`, token: stranger.token },
    ];

    for (const attempt of attempts) {
      const reply = await callApi(gateway, 'GET', `/v1/tasks?${attempt.query}`, {
        token: attempt.token,
      });

      expect(reply.status, attempt.query).toBe(400);
      expect(fieldsOf(reply)).toEqual(['query.page_token']);
    }
  });

  it('refuses a caller without tasks:read', async () => {
    const worker = await clientToken(gateway, 'list-worker', ['tasks:execute']);

    const reply = await callApi(gateway, 'GET', '/v1/tasks', { token: worker.token });

    expect(reply.status).toBe(403);
  });
});

describe('POST /v1/tasks/{task_id}/cancel', () => {
  it('cancels an accepted task with a task.cancel entry in its trail', async () => {
    const created = await create(writer.token, reviewRequest('cancel-me'));

    const reply = await callApi(gateway, 'POST', `/v1/tasks/${created.body.task_id}/cancel`, {
      token: writer.token,
    });
    const read = await callApi(gateway, 'GET', `/v1/tasks/${created.body.task_id}`, {
      token: writer.token,
    });

    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe('cancelled');
    expect(reply.body.finished_at).not.toBeNull();
    expect(read.body).toEqual(reply.body);
    expect(read.body.audit_trail).toHaveLength(2);
    expect(read.body.audit_trail[0]).toBe(created.body.audit_id);
  });

  it('answers 409 with the status for a task that has finished', async () => {
    const created = await create(writer.token, reviewRequest('twice'));
    await callApi(gateway, 'POST', `/v1/tasks/${created.body.task_id}/cancel`, {
      token: writer.token,
    });

    const again = await callApi(gateway, 'POST', `/v1/tasks/${created.body.task_id}/cancel`, {
      token: writer.token,
    });

    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    expect(again.body.error.details).toEqual({
      task_id: created.body.task_id,
      status: 'cancelled',
    });
  });

  it('refuses a caller without tasks:write', async () => {
    const created = await create(writer.token, reviewRequest('guarded'));

    const reply = await callApi(gateway, 'POST', `/v1/tasks/${created.body.task_id}/cancel`, {
      token: readerOnly.token,
    });

    expect(reply.status).toBe(403);
  });
});
