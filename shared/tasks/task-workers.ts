/**
 * The external-worker protocol: services outside the gateway execute the task types whose
 * `execution` is `external`, through the API, with the `tasks:execute` scope.
 *
 *   claim   POST /v1/tasks/claims {types, lease_seconds}  → 200 the task and its lease, or 204
 *   extend  POST /v1/tasks/{id}/lease {lease_seconds}     → 200, the lease moved
 *   finish  POST /v1/tasks/{id}/complete {result}         → 200, the task completed
 *           POST /v1/tasks/{id}/fail {error, retryable}   → 200, the task back in line or failed
 *
 * A claim takes the oldest due task of the first listed type that has one: an accepted task
 * whose retry time has come, or a running one whose lease ran out. The latter is first put
 * back in line (`running` → `accepted`, a `task.fail` entry saying the lease expired), which
 * spends the attempt it was on, so a task whose workers keep vanishing fails after its type's
 * `maxAttempts` instead of circling for ever. Every move is a transition pinned to the version
 * the worker read, so two workers racing for a task never both get it: the loser moves on to
 * the next candidate. Only the lease holder, before its lease runs out, may extend, complete or
 * fail; anyone else gets 409. A lease never reaches past the attempt's timeout (its type's
 * `timeoutSeconds` after `started_at`), so an attempt that overruns loses its lease and is
 * handled as a vanished worker.
 */
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { newAuditEntry } from '@shared/audit/audit-ids';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';
import { missingScopes } from '@shared/identity/scopes';
import { recordMetric } from '@shared/metrics/metrics';
import { z } from '@shared/validation/schema';
import { nextAttemptDelayMs, shouldRetry, type RandomSource } from './retry-policy';
import { isTaskId, type TaskError } from './task';
import {
  TaskConflictError,
  type StoredTask,
  type TaskStore,
  type TaskTransition,
} from './task-store';
import { findTaskType, TASK_TYPES, type TaskType } from './task-types';
import { workerTaskView, type WorkerTaskView } from './task-views';

export const MIN_LEASE_SECONDS = 5;

export const MAX_LEASE_SECONDS = 900;

export const DEFAULT_LEASE_SECONDS = 60;

/** Types one claim may name. */
export const MAX_CLAIM_TYPES = 10;

/** Due tasks of a type a claim looks at before it gives up on that type for now. */
export const CLAIM_CANDIDATES = 10;

/** Bytes a result may take as JSON: a task item must stay well inside DynamoDB's 400 KB. */
export const MAX_TASK_RESULT_BYTES = 262_144;

export const MAX_WORKER_ERROR_MESSAGE_CHARS = 1000;

/** The error a task carries when its worker's lease ran out before it finished. */
export const LEASE_EXPIRED_ERROR: TaskError = {
  code: 'task.leaseExpired',
  message: "The worker's lease ran out before the task was finished.",
};

const MS_PER_SECOND = 1000;

export interface WorkerDependencies {
  readonly store: TaskStore;
  readonly now?: () => Date;
  /** The jitter of retry delays; `Math.random` unless a test says otherwise. */
  readonly random?: RandomSource;
}

// For the message only: types registered at run time are checked through `findTaskType`.
const EXTERNAL_TYPE_NAMES = TASK_TYPES.filter((type) => type.execution === 'external').map(
  (type) => type.name,
);

const leaseSeconds = z
  .int('must be a whole number of seconds')
  .min(MIN_LEASE_SECONDS)
  .max(MAX_LEASE_SECONDS);

/** The body of a claim. */
export const claimBodySchema = z.strictObject({
  types: z
    .array(
      z.string().refine((name) => findTaskType(name)?.execution === 'external', {
        message: `must be a task type executed by external workers: ${EXTERNAL_TYPE_NAMES.join(', ')}`,
      }),
    )
    .min(1, 'must name at least one task type')
    .max(MAX_CLAIM_TYPES, `may name at most ${MAX_CLAIM_TYPES} task types`),
  lease_seconds: leaseSeconds.optional(),
});

/** The body of a lease extension. */
export const leaseBodySchema = z.strictObject({ lease_seconds: leaseSeconds.optional() });

/** The body of a completion. */
export const completeBodySchema = z.strictObject({ result: z.json() });

/** The body of a failure. */
export const failBodySchema = z.strictObject({
  error: z.strictObject({
    code: z
      .string()
      .max(64)
      .regex(
        /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/,
        'must be dotted words, such as review.rejected',
      ),
    message: z.string().min(1).max(MAX_WORKER_ERROR_MESSAGE_CHARS),
  }),
  retryable: z.boolean().optional(),
});

export type ClaimBody = z.infer<typeof claimBodySchema>;
export type LeaseBody = z.infer<typeof leaseBodySchema>;
export type CompleteBody = z.infer<typeof completeBodySchema>;
export type FailBody = z.infer<typeof failBodySchema>;

/** Who calls, and in which request: audit entries name both. */
export interface WorkerCall {
  readonly worker: Identity;
  readonly requestId: string;
}

const clock = (dependencies: WorkerDependencies): Date => dependencies.now?.() ?? new Date();

const plusSeconds = (time: Date | string, seconds: number): Date =>
  new Date(new Date(time).getTime() + seconds * MS_PER_SECOND);

/** The lease a worker asked for, cut at the attempt's timeout. */
const leaseUntil = (type: TaskType, startedAt: string, now: Date, seconds: number): string => {
  const asked = plusSeconds(now, seconds).getTime();
  const timeout = plusSeconds(startedAt, type.timeoutSeconds).getTime();

  return new Date(Math.min(asked, timeout)).toISOString();
};

const workerAudit = (
  operation: string,
  { worker, requestId }: WorkerCall,
  task: StoredTask,
  outcome: UnsealedAuditEntry['outcome'],
  details: UnsealedAuditEntry['details'],
  now: Date,
): UnsealedAuditEntry =>
  newAuditEntry(
    {
      service: 'blux-lite',
      operation,
      identity: worker.id,
      outcome,
      requestId,
      resource: { type: 'task', id: task.task_id },
      details,
    },
    now,
  );

const assertWorkerScopes = (worker: Identity, types: readonly TaskType[]): void => {
  const required = [...new Set(types.flatMap((type) => type.workerScopes))];
  const missing = missingScopes(worker.scopes, required);
  if (missing.length > 0) {
    throw new ForbiddenError(required, missing);
  }
};

/** Starts `task` (accepted) for `worker`, or `undefined` when someone else moved it first. */
const start = async (
  call: WorkerCall,
  task: StoredTask,
  type: TaskType,
  seconds: number,
  dependencies: WorkerDependencies,
): Promise<StoredTask | undefined> => {
  const now = clock(dependencies);
  const startedAt = now.toISOString();
  const lease = { worker: call.worker.id, expires_at: leaseUntil(type, startedAt, now, seconds) };
  const attempt = task.attempts + 1;

  try {
    return await dependencies.store.transition({
      taskId: task.task_id,
      from: 'accepted',
      to: 'running',
      expectedVersion: task.version,
      audit: workerAudit(
        'task.execute',
        call,
        task,
        'success',
        { attempt, lease_expires_at: lease.expires_at },
        now,
      ),
      set: { attempts: attempt, started_at: startedAt, lease, retry_at: null, error: null },
    });
  } catch (error) {
    if (error instanceof TaskConflictError) {
      return undefined;
    }
    throw error;
  }
};

/**
 * Takes a running task whose lease ran out back from its worker: back in line when attempts
 * are left, failed otherwise. `undefined` when it failed, or when someone else moved it first.
 */
const reclaim = async (
  call: WorkerCall,
  task: StoredTask,
  type: TaskType,
  dependencies: WorkerDependencies,
): Promise<StoredTask | undefined> => {
  const now = clock(dependencies);
  const retry = shouldRetry(type, task.attempts, LEASE_EXPIRED_ERROR);
  const details = {
    reason: 'lease_expired',
    previous_worker: task.lease?.worker ?? null,
    attempt: task.attempts,
    will_retry: retry,
  };

  try {
    const moved = await dependencies.store.transition({
      taskId: task.task_id,
      from: 'running',
      to: retry ? 'accepted' : 'failed',
      expectedVersion: task.version,
      audit: workerAudit('task.fail', call, task, 'failure', details, now),
      set: {
        error: LEASE_EXPIRED_ERROR,
        lease: null,
        ...(retry ? { retry_at: now.toISOString() } : {}),
      },
    });
    if (!retry) {
      recordMetric('TasksFailed', 1, { type: type.name });
    }

    return retry ? moved : undefined;
  } catch (error) {
    if (error instanceof TaskConflictError) {
      return undefined;
    }
    throw error;
  }
};

const isExpired = (task: StoredTask, now: Date): boolean =>
  task.status === 'running' &&
  task.lease !== undefined &&
  Date.parse(task.lease.expires_at) <= now.getTime();

/** The first candidate of `type` this worker manages to start, if any. */
const claimOfType = async (
  call: WorkerCall,
  type: TaskType,
  seconds: number,
  dependencies: WorkerDependencies,
): Promise<StoredTask | undefined> => {
  const now = clock(dependencies);
  const due = await dependencies.store.dueTasks(type.name, now.toISOString(), CLAIM_CANDIDATES);

  for (const candidate of due) {
    // The index lags the table a little: whatever it shows is checked again by the writes.
    const ready = isExpired(candidate, now)
      ? await reclaim(call, candidate, type, dependencies)
      : candidate.status === 'accepted'
        ? candidate
        : undefined;
    const started =
      ready === undefined ? undefined : await start(call, ready, type, seconds, dependencies);
    if (started !== undefined) {
      return started;
    }
  }

  return undefined;
};

/**
 * `POST /v1/tasks/claims`: the oldest due task of the first of `types` that has one, started
 * for the caller with a lease of `lease_seconds`; `undefined` (204) when none is due.
 */
export const claimTask = async (
  call: WorkerCall,
  body: ClaimBody,
  dependencies: WorkerDependencies,
): Promise<WorkerTaskView | undefined> => {
  const types = body.types.flatMap((name) => findTaskType(name) ?? []);
  assertWorkerScopes(call.worker, types);
  const seconds = body.lease_seconds ?? DEFAULT_LEASE_SECONDS;

  for (const type of types) {
    const claimed = await claimOfType(call, type, seconds, dependencies);
    if (claimed !== undefined) {
      return workerTaskView(claimed);
    }
  }

  return undefined;
};

const notLeased = (task: StoredTask): ConflictError =>
  new ConflictError('The task is not leased to this worker, or its lease has run out.', {
    task_id: task.task_id,
    status: task.status,
  });

/** The task `worker` holds an unexpired lease on, with its type; 404 or 409 otherwise. */
const heldTask = async (
  worker: Identity,
  taskId: string | undefined,
  dependencies: WorkerDependencies,
): Promise<{ task: StoredTask; type: TaskType }> => {
  const task = isTaskId(taskId) ? await dependencies.store.get(taskId) : undefined;
  const type = task === undefined ? undefined : findTaskType(task.type);
  if (task === undefined || type === undefined || type.execution !== 'external') {
    throw new NotFoundError('The task does not exist.');
  }
  assertWorkerScopes(worker, [type]);
  const now = clock(dependencies);
  if (task.status !== 'running' || task.lease?.worker !== worker.id || isExpired(task, now)) {
    throw notLeased(task);
  }

  return { task, type };
};

/** Runs a transition of the holder's task; a lost race is the holder losing its lease. */
const finish = async (task: StoredTask, write: () => Promise<StoredTask>): Promise<StoredTask> => {
  try {
    return await write();
  } catch (error) {
    if (error instanceof TaskConflictError) {
      throw notLeased(task);
    }
    throw error;
  }
};

interface AttemptEnd {
  readonly to: 'completed' | 'failed' | 'accepted';
  readonly operation: 'task.complete' | 'task.fail';
  readonly outcome: UnsealedAuditEntry['outcome'];
  readonly details: UnsealedAuditEntry['details'];
  readonly set: NonNullable<TaskTransition['set']>;
}

/**
 * Ends the holder's attempt: a transition from `running` at the version the holder read, with
 * its audit entry in the worker's name and the lease released. Returns the task as written.
 */
const endAttempt = (
  call: WorkerCall,
  task: StoredTask,
  end: AttemptEnd,
  now: Date,
  dependencies: WorkerDependencies,
): Promise<StoredTask> =>
  finish(task, () =>
    dependencies.store.transition({
      taskId: task.task_id,
      from: 'running',
      to: end.to,
      expectedVersion: task.version,
      audit: workerAudit(end.operation, call, task, end.outcome, end.details, now),
      set: { ...end.set, lease: null },
    }),
  );

/** Milliseconds the holder's attempt has run until `now`. */
const attemptDurationMs = (task: StoredTask, now: Date): number =>
  now.getTime() - Date.parse(task.started_at ?? now.toISOString());

/** `POST /v1/tasks/{task_id}/lease`: the holder's lease, moved to `lease_seconds` from now. */
export const extendTaskLease = async (
  call: WorkerCall,
  taskId: string | undefined,
  body: LeaseBody,
  dependencies: WorkerDependencies,
): Promise<WorkerTaskView> => {
  const { task, type } = await heldTask(call.worker, taskId, dependencies);
  const now = clock(dependencies);
  const expiresAt = leaseUntil(
    type,
    task.started_at ?? now.toISOString(),
    now,
    body.lease_seconds ?? DEFAULT_LEASE_SECONDS,
  );

  const extended = await finish(task, () =>
    dependencies.store.extendLease(task.task_id, call.worker.id, expiresAt),
  );

  return workerTaskView(extended);
};

/** `POST /v1/tasks/{task_id}/complete`: the holder's task, completed with `result`. */
export const completeTask = async (
  call: WorkerCall,
  taskId: string | undefined,
  body: CompleteBody,
  dependencies: WorkerDependencies,
): Promise<WorkerTaskView> => {
  const sizeBytes = Buffer.byteLength(JSON.stringify(body.result), 'utf8');
  if (sizeBytes > MAX_TASK_RESULT_BYTES) {
    throw new ValidationError('The result is too large.', [
      {
        field: 'body.result',
        message: `must be at most ${MAX_TASK_RESULT_BYTES} bytes as JSON, not ${sizeBytes}`,
      },
    ]);
  }
  const { task, type } = await heldTask(call.worker, taskId, dependencies);
  const now = clock(dependencies);
  const durationMs = attemptDurationMs(task, now);

  const completed = await endAttempt(
    call,
    task,
    {
      to: 'completed',
      operation: 'task.complete',
      outcome: 'success',
      details: { attempt: task.attempts, duration_ms: durationMs },
      set: { result: body.result, finished_at: now.toISOString(), error: null },
    },
    now,
    dependencies,
  );
  recordMetric('TasksCompleted', 1, { type: type.name });
  recordMetric('TaskDuration', durationMs, { type: type.name });

  return workerTaskView(completed);
};

/**
 * `POST /v1/tasks/{task_id}/fail`: the holder's attempt failed with `error`. Unless the worker
 * says it is not `retryable`, the task goes back in line after the retry policy's backoff
 * while attempts are left; otherwise, or once they are spent, it fails with that error.
 */
export const failTask = async (
  call: WorkerCall,
  taskId: string | undefined,
  body: FailBody,
  dependencies: WorkerDependencies,
): Promise<WorkerTaskView> => {
  const { task, type } = await heldTask(call.worker, taskId, dependencies);
  const now = clock(dependencies);
  const retry = body.retryable !== false && shouldRetry(type, task.attempts, body.error);
  const retryAt = new Date(now.getTime() + nextAttemptDelayMs(task.attempts, dependencies.random));
  const durationMs = attemptDurationMs(task, now);

  const moved = await endAttempt(
    call,
    task,
    {
      to: retry ? 'accepted' : 'failed',
      operation: 'task.fail',
      outcome: 'failure',
      details: { code: body.error.code, attempt: task.attempts, will_retry: retry },
      set: {
        error: body.error,
        ...(retry ? { retry_at: retryAt.toISOString() } : { finished_at: now.toISOString() }),
      },
    },
    now,
    dependencies,
  );
  recordMetric(retry ? 'TaskRetries' : 'TasksFailed', 1, { type: type.name });
  recordMetric('TaskDuration', durationMs, { type: type.name });

  return workerTaskView(moved);
};
