/**
 * Tasks as the API shows them. The owner's view has the task's status and history but not
 * what only the store needs (`version`, the queue attributes) nor who holds it; a worker's view
 * is what a worker needs to do the work, its payload and its lease, and not the owner.
 */
import type { TaskError, TaskLease, TaskStatus } from './task';
import type { StoredTask } from './task-store';

/** `GET /v1/tasks/{task_id}`, and each task of `GET /v1/tasks`. */
export interface TaskView {
  readonly task_id: string;
  readonly status: TaskStatus;
  readonly type: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly created_at: string;
  readonly updated_at: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly attempts: number;
  /** When the task is `completed` only. */
  readonly result?: unknown;
  /** When the task is `failed` only. */
  readonly error?: TaskError;
  /** Set while a retry waits: not started again before this. */
  readonly retry_at?: string;
  readonly audit_trail: readonly string[];
}

/** What a worker receives when it claims a task, and after each call on it. */
export interface WorkerTaskView {
  readonly task_id: string;
  readonly type: string;
  readonly status: TaskStatus;
  readonly payload: unknown;
  readonly context: Readonly<Record<string, unknown>>;
  readonly attempts: number;
  readonly created_at: string;
  readonly started_at: string | null;
  /** The lease while the task runs; `null` once it has left the worker. */
  readonly lease: TaskLease | null;
  /** The creating request's id, for the worker's own logs. */
  readonly request_id: string;
}

/** The answer to `POST /v1/tasks`. */
export interface CreatedTaskView {
  readonly task_id: string;
  readonly status: 'accepted';
  readonly audit_id: string;
  readonly estimated_completion: string;
}

/** The owner's view of `task`. */
export const taskView = (task: StoredTask): TaskView => ({
  task_id: task.task_id,
  status: task.status,
  type: task.type,
  context: task.context,
  created_at: task.created_at,
  updated_at: task.updated_at,
  started_at: task.started_at ?? null,
  finished_at: task.finished_at ?? null,
  attempts: task.attempts,
  ...(task.status === 'completed' ? { result: task.result ?? null } : {}),
  ...(task.status === 'failed' && task.error !== undefined ? { error: task.error } : {}),
  ...(task.status === 'accepted' && task.retry_at !== undefined ? { retry_at: task.retry_at } : {}),
  audit_trail: task.audit_trail,
});

/** A worker's view of `task`. */
export const workerTaskView = (task: StoredTask): WorkerTaskView => ({
  task_id: task.task_id,
  type: task.type,
  status: task.status,
  payload: task.payload,
  context: task.context,
  attempts: task.attempts,
  created_at: task.created_at,
  started_at: task.started_at ?? null,
  lease: task.status === 'running' ? (task.lease ?? null) : null,
  request_id: task.request_id,
});
