/**
 * The Tasks API as its owners use it: create (with `Idempotency-Key`), read, list and cancel.
 * The handlers in `functions/` only parse and answer; every decision is here, against the
 * store interfaces, so that it reads without any Lambda or SDK type.
 *
 * Ownership: a task belongs to the identity that created it (`Identity.id`), and any other
 * identity is answered as if the task did not exist. `context.user_id` names the end user a
 * service acts for; it is kept and shown in the task's context, and changes no ownership, as
 * `X-On-Behalf-Of` does not either: the service that created the task is the one that may read
 * and cancel it.
 */
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { newAuditEntry } from '@shared/audit/audit-ids';
import {
  ConflictError,
  ForbiddenError,
  IdempotencyKeyReusedError,
  NotFoundError,
  UnauthorizedError,
} from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';
import { missingScopes } from '@shared/identity/scopes';
import { recordMetric } from '@shared/metrics/metrics';
import { z } from '@shared/validation/schema';
import { estimateCompletion } from './estimated-completion';
import {
  completeIdempotencyRecord,
  decideIdempotentReplay,
  newIdempotencyRecord,
  requestFingerprint,
  validateIdempotencyKey,
  type IdempotencyRecord,
  type StoredResponse,
} from './idempotency';
import {
  IdempotencyKeyLostError,
  type IdempotencyCompletion,
  type IdempotencyKeyRef,
  type IdempotencyStore,
} from './idempotency-store';
import { isFinal, isTaskId, newTaskId, TASK_STATUSES } from './task';
import {
  decodeTaskPageToken,
  encodeTaskPageToken,
  MAX_TASK_PAGE_TOKEN_CHARS,
} from './task-page-token';
import { TaskConflictError, type StoredTask, type TaskStore } from './task-store';
import { findTaskType, TASK_TYPE_NAMES, validateTaskRequest } from './task-types';
import { taskView, type CreatedTaskView, type TaskView } from './task-views';

/** Completed durations of a type that the estimate of a new task looks at. */
export const RECENT_DURATIONS_FOR_ESTIMATE = 20;

export const DEFAULT_TASK_PAGE_LIMIT = 20;

export const MAX_TASK_PAGE_LIMIT = 100;

/** Tries of a cancel that keeps meeting a task that moved meanwhile. */
const MAX_CANCEL_TRIES = 3;

/** A store that can also complete an idempotency key in the write that creates a task. */
export interface IdempotentTaskStore extends TaskStore {
  createWithIdempotency(
    task: StoredTask,
    audit: UnsealedAuditEntry,
    completion: IdempotencyCompletion,
  ): Promise<void>;
}

export interface TaskServiceDependencies {
  readonly store: IdempotentTaskStore;
  readonly idempotency: IdempotencyStore;
  /** The key of the listing's page tokens, read when a listing needs it. */
  readonly pageTokenSecret: () => Promise<string>;
  readonly now?: () => Date;
}

/** What a `POST /v1/tasks` brings. */
export interface CreateTaskRequest {
  readonly body: unknown;
  /** The raw `Idempotency-Key` header, when sent. */
  readonly idempotencyKey: string | undefined;
  readonly requestId: string;
}

/**
 * The caller of a task route. The pipeline authenticates every one of them, so a missing
 * identity is a wiring fault; it still answers 401 rather than act for nobody.
 */
export const requireCaller = (identity: Identity | undefined): Identity => {
  if (identity === undefined) {
    throw new UnauthorizedError('missing');
  }

  return identity;
};

const clock = (dependencies: Pick<TaskServiceDependencies, 'now'>): Date =>
  dependencies.now?.() ?? new Date();

const notFound = (): NotFoundError => new NotFoundError('The task does not exist.');

const taskAudit = (
  operation: string,
  caller: Identity,
  taskId: string,
  requestId: string,
  details: UnsealedAuditEntry['details'],
  now: Date,
): UnsealedAuditEntry =>
  newAuditEntry(
    {
      service: 'blux-lite',
      operation,
      identity: caller.id,
      outcome: 'success',
      requestId,
      resource: { type: 'task', id: taskId },
      details,
    },
    now,
  );

/** What a key held by another request means for this one: its answer, or a refusal. */
const answerForHeldKey = (
  stored: IdempotencyRecord | undefined,
  fingerprint: string,
  now: Date,
): StoredResponse => {
  const decision = decideIdempotentReplay(stored, fingerprint, now);
  if (decision === 'mismatch') {
    throw new IdempotencyKeyReusedError();
  }
  if (typeof decision === 'object') {
    return decision.replay;
  }

  // In flight, or freed again between our write and our read: either way, not ours to take.
  throw new ConflictError('A request with this Idempotency-Key is still in flight.', {
    reason: 'idempotency_key_in_flight',
  });
};

/** A new task as the store keeps it, made with its `task.create` entry. */
const acceptedTask = (
  taskId: string,
  caller: Identity,
  what: Pick<StoredTask, 'type' | 'context' | 'payload'>,
  request: CreateTaskRequest,
  audit: UnsealedAuditEntry,
): StoredTask => ({
  task_id: taskId,
  owner: caller.id,
  ...what,
  status: 'accepted',
  attempts: 0,
  version: 1,
  created_at: audit.timestamp,
  updated_at: audit.timestamp,
  request_id: request.requestId,
  audit_trail: [audit.audit_id],
});

/**
 * `POST /v1/tasks`: checks the body, the type's own scopes and the idempotency key, then stores
 * the task with its `task.create` entry (and, with a key, its replayable answer) in one
 * transaction. Answers 202 with the task's id, its entry and its estimated completion; a key
 * seen before answers what it answered then, or 422 for another body, or 409 while the first
 * request still runs.
 */
export const createTask = async (
  caller: Identity,
  request: CreateTaskRequest,
  dependencies: TaskServiceDependencies,
): Promise<StoredResponse> => {
  const key = validateIdempotencyKey(request.idempotencyKey);
  const { type, context, payload } = validateTaskRequest(request.body);
  const missing = missingScopes(caller.scopes, type.scopes);
  if (missing.length > 0) {
    throw new ForbiddenError(type.scopes, missing);
  }
  const now = clock(dependencies);

  const idempotency =
    key === undefined
      ? undefined
      : await takeKey({ identity: caller.id, key }, request.body, now, dependencies);
  if (idempotency !== undefined && 'answer' in idempotency) {
    return idempotency.answer;
  }

  const taskId = newTaskId(now);
  const durations = await dependencies.store.recentDurations(
    type.name,
    RECENT_DURATIONS_FOR_ESTIMATE,
  );
  const audit = taskAudit(
    'task.create',
    caller,
    taskId,
    request.requestId,
    { type: type.name, idempotent: idempotency !== undefined },
    now,
  );
  const body: CreatedTaskView = {
    task_id: taskId,
    status: 'accepted',
    audit_id: audit.audit_id,
    estimated_completion: estimateCompletion(type, durations, now),
  };
  const response: StoredResponse = {
    status: 202,
    headers: { Location: `/v1/tasks/${taskId}` },
    body,
  };
  const task = acceptedTask(taskId, caller, { type: type.name, context, payload }, request, audit);

  const answer =
    idempotency === undefined
      ? await dependencies.store.create(task, audit).then(() => response)
      : await createHoldingKey(dependencies, task, audit, response, idempotency.held);
  if (answer === response) {
    recordMetric('TasksCreated', 1, { type: type.name });
  }

  return answer;
};

/** A key this request now holds, or the answer another request's record gives it. */
type KeyOutcome =
  | { readonly held: IdempotencyKeyRef & { readonly record: IdempotencyRecord } }
  | { readonly answer: StoredResponse };

/** Takes the key for this request, or learns what another request with it answers. */
const takeKey = async (
  ref: IdempotencyKeyRef,
  body: unknown,
  now: Date,
  dependencies: TaskServiceDependencies,
): Promise<KeyOutcome> => {
  const record = newIdempotencyRecord(requestFingerprint(ref.identity, body), now);
  if (await dependencies.idempotency.acquire(ref, record, now)) {
    return { held: { ...ref, record } };
  }

  const stored = await dependencies.idempotency.find(ref);
  // Freed between our write and our read (the holder failed): one more try to take it.
  const freed = decideIdempotentReplay(stored, record.fingerprint, now) === 'new';
  if (freed && (await dependencies.idempotency.acquire(ref, record, now))) {
    return { held: { ...ref, record } };
  }

  return { answer: answerForHeldKey(stored, record.fingerprint, now) };
};

/**
 * Creates the task together with the key's completed record while the key is still this
 * request's. When the lock ran out and a retry took the key meanwhile, nothing was written and
 * the retry's record answers; any other failure frees the key for the client's retry.
 */
const createHoldingKey = async (
  dependencies: TaskServiceDependencies,
  task: StoredTask,
  audit: UnsealedAuditEntry,
  response: StoredResponse,
  held: IdempotencyKeyRef & { readonly record: IdempotencyRecord },
): Promise<StoredResponse> => {
  const completion: IdempotencyCompletion = {
    identity: held.identity,
    key: held.key,
    held: held.record,
    completed: completeIdempotencyRecord(held.record, response),
  };

  try {
    await dependencies.store.createWithIdempotency(task, audit, completion);

    return response;
  } catch (error) {
    if (error instanceof IdempotencyKeyLostError) {
      const stored = await dependencies.idempotency.find(held);

      return answerForHeldKey(stored, held.record.fingerprint, clock(dependencies));
    }
    await dependencies.idempotency.release(held, held.record).catch(() => undefined);
    throw error;
  }
};

/** The caller's own task, or 404 whether it does not exist or belongs to someone else. */
const ownTask = async (
  caller: Identity,
  taskId: string | undefined,
  store: TaskStore,
): Promise<StoredTask> => {
  if (!isTaskId(taskId)) {
    throw notFound();
  }
  const task = await store.get(taskId);
  if (task === undefined || task.owner !== caller.id) {
    throw notFound();
  }

  return task;
};

/** `GET /v1/tasks/{task_id}`: the caller's task, with its audit trail. */
export const getTask = async (
  caller: Identity,
  taskId: string | undefined,
  dependencies: Pick<TaskServiceDependencies, 'store'>,
): Promise<TaskView> => taskView(await ownTask(caller, taskId, dependencies.store));

const taskListParameters = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  type: z
    .string()
    .refine((name) => findTaskType(name) !== undefined, {
      message: `must be a registered task type: ${TASK_TYPE_NAMES.join(', ')}`,
    })
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_TASK_PAGE_LIMIT))
    .optional(),
  page_token: z.string().min(1).max(MAX_TASK_PAGE_TOKEN_CHARS).optional(),
});

const KNOWN_LIST_PARAMETERS = new Set(Object.keys(taskListParameters.shape));

/**
 * The query string of `GET /v1/tasks`. An unknown parameter is named on its own
 * (`query.stauts`), so that a typo in a filter is not silently an unfiltered listing.
 */
export const taskListQuerySchema = z
  .record(z.string(), z.string())
  .superRefine((query, context) => {
    for (const name of Object.keys(query).filter((key) => !KNOWN_LIST_PARAMETERS.has(key))) {
      context.addIssue({
        code: 'custom',
        path: [name],
        message: 'is not a parameter of this route',
      });
    }
  })
  .pipe(taskListParameters);

export type TaskListParameters = z.infer<typeof taskListQuerySchema>;

export interface TaskListView {
  readonly tasks: TaskView[];
  readonly next_page_token: string | null;
}

/** `GET /v1/tasks`: a page of the caller's tasks, newest first. */
export const listTasks = async (
  caller: Identity,
  query: TaskListParameters,
  dependencies: Pick<TaskServiceDependencies, 'store' | 'pageTokenSecret'>,
): Promise<TaskListView> => {
  const binding = {
    identity: caller.id,
    filters: { status: query.status ?? null, type: query.type ?? null },
  };
  const secret = await dependencies.pageTokenSecret();
  const cursor =
    query.page_token === undefined
      ? undefined
      : decodeTaskPageToken(query.page_token, binding, secret);

  const page = await dependencies.store.list({
    owner: caller.id,
    status: query.status,
    type: query.type,
    limit: query.limit ?? DEFAULT_TASK_PAGE_LIMIT,
    cursor,
  });

  return {
    tasks: page.tasks.map(taskView),
    next_page_token:
      page.cursor === undefined ? null : encodeTaskPageToken(page.cursor, binding, secret),
  };
};

const finishedConflict = (task: StoredTask): ConflictError =>
  new ConflictError(`The task has finished already: it is ${task.status}.`, {
    task_id: task.task_id,
    status: task.status,
  });

/**
 * `POST /v1/tasks/{task_id}/cancel`: moves the caller's unfinished task to `cancelled` with a
 * `task.cancel` entry; a running executor sees it at its next checkpoint, a worker at its next
 * call. A task that has finished answers 409 with its status. A task that moves meanwhile
 * (started, retried) is read again and cancelled from where it is now.
 */
export const cancelTask = async (
  caller: Identity,
  taskId: string | undefined,
  requestId: string,
  dependencies: Pick<TaskServiceDependencies, 'store' | 'now'>,
): Promise<TaskView> => {
  for (let attempt = 1; ; attempt += 1) {
    const task = await ownTask(caller, taskId, dependencies.store);
    if (isFinal(task.status)) {
      throw finishedConflict(task);
    }
    const now = clock(dependencies);

    try {
      const cancelled = await dependencies.store.transition({
        taskId: task.task_id,
        from: task.status,
        to: 'cancelled',
        audit: taskAudit(
          'task.cancel',
          caller,
          task.task_id,
          requestId,
          { from: task.status },
          now,
        ),
        set: { finished_at: now.toISOString() },
      });
      recordMetric('TasksCancelled', 1, { type: task.type });

      return taskView(cancelled);
    } catch (error) {
      if (!(error instanceof TaskConflictError)) {
        throw error;
      }
      if (attempt >= MAX_CANCEL_TRIES) {
        throw new ConflictError(
          'The task kept changing while it was being cancelled; try again.',
          { task_id: task.task_id },
          error,
        );
      }
    }
  }
};
