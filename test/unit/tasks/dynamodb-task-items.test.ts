import { describe, expect, it } from 'vitest';
import {
  isTaskItem,
  queuePosition,
  readTaskItem,
  TaskItemError,
  taskItem,
} from '@shared/tasks/dynamodb-task-items';
import type { StoredTask } from '@shared/tasks/task-store';

const TASK: StoredTask = {
  task_id: 'tsk_01JEXAMPLE0000000000000000',
  owner: 'user:42',
  type: 'data_analysis',
  context: { user_id: '42', nested: { list: [1, null] } },
  payload: { data_references: ['ref://dataset/1'] },
  status: 'accepted',
  attempts: 0,
  version: 1,
  created_at: '2026-12-03T10:00:00.000Z',
  updated_at: '2026-12-03T10:00:00.000Z',
  request_id: 'req-1',
  audit_trail: ['aud_1'],
};

describe('task items', () => {
  it('read back as the task they were written from', () => {
    const completed: StoredTask = {
      ...TASK,
      status: 'completed',
      attempts: 1,
      started_at: '2026-12-03T10:01:00.000Z',
      finished_at: '2026-12-03T10:02:00.000Z',
      result: { analysis_complete: true },
    };

    expect(readTaskItem(taskItem(TASK))).toEqual(TASK);
    expect(readTaskItem(taskItem(completed))).toEqual(completed);
  });

  it('follow the documented layout, queue attributes included while live', () => {
    const item = taskItem(TASK);

    expect(item.pk).toEqual({ S: `task#${TASK.task_id}` });
    expect(item.sk).toEqual({ S: 'task' });
    expect(item.context_json).toEqual({ S: JSON.stringify(TASK.context) });
    expect(item.queue_pk).toEqual({ S: 'data_analysis' });
    expect(item.available_at).toEqual({ S: TASK.created_at });
    expect(item.completed_type).toBeUndefined();
  });

  it('leave final tasks out of the queue, and key completed ones by type', () => {
    const item = taskItem({ ...TASK, status: 'completed', finished_at: TASK.created_at });

    expect(item.queue_pk).toBeUndefined();
    expect(item.available_at).toBeUndefined();
    expect(item.completed_type).toEqual({ S: 'data_analysis' });
  });

  it('put a retried task in line at its retry time and a running one at its lease expiry', () => {
    const lease = { worker: 'service:w', expires_at: '2026-12-03T10:10:00.000Z' };

    expect(queuePosition({ ...TASK, retry_at: '2026-12-03T10:05:00.000Z' })?.available_at).toBe(
      '2026-12-03T10:05:00.000Z',
    );
    expect(queuePosition({ ...TASK, status: 'running', lease })?.available_at).toBe(
      lease.expires_at,
    );
    expect(queuePosition({ ...TASK, status: 'running' }, 'later')?.available_at).toBe('later');
  });

  it('are told apart from the other items of the table by their pk', () => {
    expect(isTaskItem(taskItem(TASK))).toBe(true);
    expect(isTaskItem({ pk: { S: 'idem#abc' } })).toBe(false);
    expect(isTaskItem(undefined)).toBe(false);
  });

  it('refuse an item that does not read as a task, naming the attribute', () => {
    const withoutStatus = taskItem(TASK);
    delete withoutStatus.status;
    const badJson = { ...taskItem(TASK), payload_json: { S: '{' } };

    expect(() => readTaskItem(withoutStatus)).toThrow(TaskItemError);
    expect(() => readTaskItem(withoutStatus)).toThrow(/status/);
    expect(() => readTaskItem(badJson)).toThrow(/payload_json/);
    expect(() => readTaskItem({ ...taskItem(TASK), status: { S: 'done' } })).toThrow(/status/);
  });
});
