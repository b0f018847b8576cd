import { describe, expect, it } from 'vitest';
import type { StoredTask } from '@shared/tasks/task-store';
import { taskView, workerTaskView } from '@shared/tasks/task-views';

const STORED: StoredTask = {
  task_id: 'tsk_01JEXAMPLE0000000000000000',
  owner: 'service:owner',
  type: 'document_review',
  context: { user_id: 'u-1' },
  payload: { document_url: 'https://docs.example/a.pdf' },
  status: 'running',
  attempts: 2,
  version: 5,
  created_at: '2026-12-03T10:00:00.000Z',
  updated_at: '2026-12-03T10:05:00.000Z',
  started_at: '2026-12-03T10:04:00.000Z',
  request_id: 'req-1',
  lease: { worker: 'service:reviewer', expires_at: '2026-12-03T10:09:00.000Z' },
  error: { code: 'review.unavailable', message: 'down' },
  audit_trail: ['aud_1', 'aud_2', 'aud_3'],
};

describe('the owner’s view of a task', () => {
  it('shows status, context, timestamps, attempts and trail, and nothing the store keeps', () => {
    const view = taskView(STORED);

    expect(view).toEqual({
      task_id: STORED.task_id,
      status: 'running',
      type: 'document_review',
      context: { user_id: 'u-1' },
      created_at: STORED.created_at,
      updated_at: STORED.updated_at,
      started_at: STORED.started_at,
      finished_at: null,
      attempts: 2,
      audit_trail: ['aud_1', 'aud_2', 'aud_3'],
    });
  });

  it('shows the result of a completed task, null when it had none', () => {
    const completed = { ...STORED, status: 'completed' as const, result: { ok: true } };
    const bare = { ...STORED, status: 'completed' as const, result: undefined };

    expect(taskView(completed).result).toEqual({ ok: true });
    expect(taskView(bare)).toHaveProperty('result', null);
  });

  it('shows the error of a failed task only', () => {
    expect(taskView({ ...STORED, status: 'failed' }).error).toEqual(STORED.error);
    expect(taskView({ ...STORED, status: 'accepted' })).not.toHaveProperty('error');
  });

  it('shows when a waiting retry is due', () => {
    const waiting = { ...STORED, status: 'accepted' as const, retry_at: '2026-12-03T10:06:00Z' };

    expect(taskView(waiting).retry_at).toBe('2026-12-03T10:06:00Z');
    expect(taskView({ ...STORED, retry_at: '2026-12-03T10:06:00Z' })).not.toHaveProperty(
      'retry_at',
    );
  });
});

describe('the worker’s view of a task', () => {
  it('has the payload and the lease, and not the owner', () => {
    const view = workerTaskView(STORED);

    expect(view.payload).toEqual(STORED.payload);
    expect(view.lease).toEqual(STORED.lease);
    expect(view.request_id).toBe('req-1');
    expect(view).not.toHaveProperty('owner');
  });

  it('shows no lease once the task has left the worker', () => {
    expect(workerTaskView({ ...STORED, status: 'cancelled' }).lease).toBeNull();
  });
});
