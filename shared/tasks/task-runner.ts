/**
 * Runs one attempt of an internal task, from the stored task a stream record (or a sweep)
 * brings. Every step is a conditional write on the task, so that however often a record is
 * delivered, and however late, a task runs to completion once and never moves backwards:
 *
 *   1. claim: `accepted` → `running` at the version the record saw, with the attempt counted,
 *      a lease in this function's name and a `task.execute` entry. A conflict means another
 *      delivery claimed it first, or it changed since the record was written: nothing to do.
 *   2. run the type's executor with an `AbortSignal` and a `checkpoint()`. The type's timeout
 *      is raced against it; a checkpoint that finds the task no longer held by this attempt
 *      (its owner cancelled it) stops the executor, and the runner then writes nothing more.
 *   3. finish, conditional on `running` at the claim's version: `completed` with the result and
 *      `task.complete`; or, after a failure, back to `accepted` with a `retry_at` and the error
 *      kept, while `shouldRetry` allows it; or `failed` with the error and `task.fail`.
 *
 * A retry's backoff has no timer to live in: a stream delivers records when they are written,
 * never later. So the record of a task put back to `accepted` is claimed after waiting for its
 * `retry_at` when that is at most `MAX_INLINE_RETRY_WAIT_MS` away. With the types' three
 * attempts the full-jitter delays stay below 2 s, so retries are prompt and cost the consumer
 * seconds at most. A later `retry_at` is left to the sweeper, which redelivers the task once it
 * is due; waiting for it here would hold the stream's shard and the function's time.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { AuditDetailValue, UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { newAuditEntry } from '@shared/audit/audit-ids';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import {
  nextAttemptDelayMs,
  shouldRetry,
  TASK_CANCELLED_CODE,
  TASK_TIMED_OUT_CODE,
  type RandomSource,
} from './retry-policy';
import type { TaskError } from './task';
import { TaskConflictError, type StoredTask, type TaskStore } from './task-store';
import type { TaskType } from './task-types';
import { executorFor, findExecutableTaskType } from './executors/executor-registry';
import type { TaskExecution, TaskExecutor } from './executors/task-executor';

/** The service every task audit entry speaks for. */
export const TASK_AUDIT_SERVICE = 'blux-lite';

/** A retry due within this long is waited for by the consumer; a later one by the sweeper. */
export const MAX_INLINE_RETRY_WAIT_MS = 5_000;

/**
 * Seconds a lease outlives the type's timeout. The runner fails a task at its timeout itself;
 * the lease only matters when the function died before it could (a crash, Lambda's own
 * timeout), and then the sweeper takes the task back once the lease has run out.
 */
export const TASK_LEASE_GRACE_SECONDS = 30;

/** Characters of an error message kept on the task. */
export const MAX_TASK_ERROR_MESSAGE_CHARS = 1_000;

/** What an executor's unexpected failure tells the task's owner. */
export const TASK_EXECUTION_FAILED_CODE = 'task.executionFailed';

/** An internal type without an executor: a deployment fault, never worth a retry. */
export const TASK_NO_EXECUTOR_CODE = 'task.noExecutor';

const MS_PER_SECOND = 1000;

/** The metrics the runner and the sweeper record, each with the dimension `{ type }`. */
export const TASK_METRICS = {
  completed: 'TasksCompleted',
  failed: 'TasksFailed',
  cancelled: 'TasksCancelled',
  retries: 'TaskRetries',
  durationMs: 'TaskDuration',
} as const;

/** What became of one delivery of a task. */
export type TaskRunOutcome =
  /** Not for the gateway to run now: another status, an external or an unknown type. */
  | 'ignored'
  /** A retry due later than the consumer waits; the sweeper redelivers it. */
  | 'deferred'
  /** Another delivery claimed it first, or it changed since the record was written. */
  | 'skipped'
  | 'completed'
  | 'retrying'
  | 'failed'
  | 'timedOut'
  /** A checkpoint found the task cancelled or taken over; the runner wrote nothing more. */
  | 'stopped';

/** The attempt ran past its type's timeout. Permanent: `task.timedOut`. */
export class TaskTimedOutError extends Error {
  override readonly name = 'TaskTimedOutError';
  readonly code = TASK_TIMED_OUT_CODE;
  readonly expose = true;

  constructor(timeoutSeconds: number) {
    super(`The task ran longer than its type's timeout of ${timeoutSeconds} s.`);
  }
}

/** A checkpoint found that this attempt no longer holds the task. Permanent: `task.cancelled`. */
export class TaskAttemptStoppedError extends Error {
  override readonly name = 'TaskAttemptStoppedError';
  readonly code = TASK_CANCELLED_CODE;
  readonly expose = true;

  constructor(
    readonly taskId: string,
    readonly status: string | undefined,
  ) {
    super(`Task ${taskId} is ${status ?? 'gone'} and no longer held by this attempt.`);
  }
}

export interface TaskRunnerOptions {
  readonly store: TaskStore;
  /** Who holds a claimed task's lease: `gateway:<function name>`. */
  readonly worker: string;
  /** Default the system clock. */
  readonly now?: () => Date;
  /** Draws the retry delays; default `Math.random`. */
  readonly random?: RandomSource;
  /** Waits for a retry's `retry_at`; default a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Default the executor registry's types. */
  readonly findType?: (name: string) => TaskType | undefined;
  /** Default the executor registry's executors. */
  readonly executorFor?: (type: TaskType) => TaskExecutor | undefined;
}

/** The lease worker of a gateway function: `gateway:<function name>`. */
export const gatewayWorker = (functionName: string): string => `gateway:${functionName}`;

type AttemptResult =
  { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: unknown };

const hasStringCode = (error: unknown): error is { code: string; message: string } =>
  typeof error === 'object' &&
  error !== null &&
  typeof (error as { code?: unknown }).code === 'string' &&
  typeof (error as { message?: unknown }).message === 'string';

/**
 * The error as the task's owner reads it: the error's own code and message when it may be
 * shown (`expose: true`), a generic one otherwise, since a message from deep inside a library
 * may name internals. The full error goes to the log either way.
 */
export const taskErrorOf = (error: unknown): TaskError => {
  const exposed = hasStringCode(error) && (error as { expose?: unknown }).expose === true;
  if (!exposed) {
    return {
      code: TASK_EXECUTION_FAILED_CODE,
      message: 'The task failed because of an internal error.',
    };
  }

  return { code: error.code, message: error.message.slice(0, MAX_TASK_ERROR_MESSAGE_CHARS) };
};

/** Whether `current` is still the task this attempt claimed, running. */
const heldBy = (current: StoredTask | undefined, claimed: StoredTask): boolean =>
  current?.status === 'running' &&
  current.attempts === claimed.attempts &&
  current.lease?.worker === claimed.lease?.worker;

/** Runs internal tasks, one delivery at a time; see the file comment for the steps. */
export class TaskRunner {
  private readonly store: TaskStore;
  private readonly worker: string;
  private readonly now: () => Date;
  private readonly random: RandomSource;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly findType: (name: string) => TaskType | undefined;
  private readonly executorFor: (type: TaskType) => TaskExecutor | undefined;

  constructor(options: TaskRunnerOptions) {
    this.store = options.store;
    this.worker = options.worker;
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? (async (ms) => sleepFor(ms));
    this.findType = options.findType ?? findExecutableTaskType;
    this.executorFor = options.executorFor ?? executorFor;
  }

  /**
   * Handles one delivery of `task` as the stream (or a sweep) saw it. Resolves with what became
   * of it; rejects only when the store fails, so that the delivery is retried.
   */
  async run(task: StoredTask): Promise<TaskRunOutcome> {
    const type = this.findType(task.type);
    if (type === undefined || type.execution !== 'internal' || task.status !== 'accepted') {
      return 'ignored';
    }
    const waitMs = this.untilDueMs(task);
    if (waitMs > MAX_INLINE_RETRY_WAIT_MS) {
      this.log('info', 'task retry left to the sweeper', task, { retry_at: task.retry_at });

      return 'deferred';
    }
    if (waitMs > 0) {
      await this.sleep(waitMs);
    }

    const claimed = await this.claim(task, type);
    if (claimed === undefined) {
      return 'skipped';
    }

    return this.execute(claimed, type);
  }

  private untilDueMs(task: StoredTask): number {
    if (task.retry_at === undefined) {
      return 0;
    }

    return Math.max(0, Date.parse(task.retry_at) - this.now().getTime());
  }

  private async claim(task: StoredTask, type: TaskType): Promise<StoredTask | undefined> {
    const startedAt = this.now();
    const attempt = task.attempts + 1;
    const leaseMs = (type.timeoutSeconds + TASK_LEASE_GRACE_SECONDS) * MS_PER_SECOND;

    try {
      return await this.store.transition({
        taskId: task.task_id,
        from: 'accepted',
        to: 'running',
        expectedVersion: task.version,
        set: {
          attempts: attempt,
          started_at: startedAt.toISOString(),
          lease: {
            worker: this.worker,
            expires_at: new Date(startedAt.getTime() + leaseMs).toISOString(),
          },
          retry_at: null,
        },
        audit: this.auditEntry(task, 'task.execute', 'success', {
          attempt,
          worker: this.worker,
        }),
      });
    } catch (error) {
      if (error instanceof TaskConflictError) {
        this.log('info', 'task already claimed or changed; delivery skipped', task, {
          version: task.version,
        });

        return undefined;
      }
      throw error;
    }
  }

  private async execute(claimed: StoredTask, type: TaskType): Promise<TaskRunOutcome> {
    const executor = this.executorFor(type);
    const startedMs = this.now().getTime();
    this.log('info', 'task attempt started', claimed);

    const attempt: AttemptResult =
      executor === undefined
        ? { ok: false, error: noExecutorError(type) }
        : await this.attempt(claimed, type, executor);
    const durationMs = this.now().getTime() - startedMs;

    if (!attempt.ok && attempt.error instanceof TaskAttemptStoppedError) {
      return this.stopped(claimed, attempt.error);
    }
    recordMetric(TASK_METRICS.durationMs, durationMs, { type: type.name });
    if (attempt.ok) {
      return this.complete(claimed, type, attempt.result, durationMs);
    }

    return this.fail(claimed, type, attempt.error, durationMs);
  }

  /** The executor raced against the timeout and the attempt's own abort. */
  private async attempt(
    claimed: StoredTask,
    type: TaskType,
    executor: TaskExecutor,
  ): Promise<AttemptResult> {
    const controller = new AbortController();
    const { signal } = controller;
    const timer = setTimeout(
      () => controller.abort(new TaskTimedOutError(type.timeoutSeconds)),
      type.timeoutSeconds * MS_PER_SECOND,
    );
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
    // Whichever loses the race settles unobserved; neither may become an unhandled rejection.
    aborted.catch(() => undefined);
    const execution: TaskExecution = {
      task: claimed,
      signal,
      checkpoint: () => this.checkpoint(claimed, controller),
    };

    try {
      const work = executor(execution);
      work.catch(() => undefined);

      return { ok: true, result: await Promise.race([work, aborted]) };
    } catch (error) {
      // An executor that stops on the signal rejects with its own words; the reason says why.
      return { ok: false, error: signal.aborted ? signal.reason : error };
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkpoint(claimed: StoredTask, controller: AbortController): Promise<void> {
    controller.signal.throwIfAborted();
    const current = await this.store.get(claimed.task_id);
    if (!heldBy(current, claimed)) {
      controller.abort(new TaskAttemptStoppedError(claimed.task_id, current?.status));
    }

    controller.signal.throwIfAborted();
  }

  private stopped(claimed: StoredTask, error: TaskAttemptStoppedError): TaskRunOutcome {
    if (error.status === 'cancelled') {
      recordMetric(TASK_METRICS.cancelled, 1, { type: claimed.type });
    }
    this.log('info', 'task attempt stopped at a checkpoint', claimed, { status: error.status });

    return 'stopped';
  }

  private async complete(
    claimed: StoredTask,
    type: TaskType,
    result: unknown,
    durationMs: number,
  ): Promise<TaskRunOutcome> {
    const written = await this.finish(claimed, 'completed', {
      set: { result: result ?? null, finished_at: this.now().toISOString(), error: null },
      audit: this.auditEntry(claimed, 'task.complete', 'success', {
        attempt: claimed.attempts,
        duration_ms: durationMs,
      }),
    });
    if (written) {
      recordMetric(TASK_METRICS.completed, 1, { type: type.name });
      this.log('info', 'task completed', claimed, { duration_ms: durationMs });
    }

    return written ? 'completed' : 'stopped';
  }

  private async fail(
    claimed: StoredTask,
    type: TaskType,
    error: unknown,
    durationMs: number,
  ): Promise<TaskRunOutcome> {
    const taskError = taskErrorOf(error);
    const retry =
      taskError.code !== TASK_NO_EXECUTOR_CODE && shouldRetry(type, claimed.attempts, error);
    this.log(retry ? 'warn' : 'error', 'task attempt failed', claimed, {
      duration_ms: durationMs,
      will_retry: retry,
      task_error: taskError.code,
      error,
    });
    if (retry) {
      return this.retry(claimed, taskError);
    }

    const written = await this.finish(claimed, 'failed', {
      set: { error: taskError, finished_at: this.now().toISOString() },
      audit: this.auditEntry(claimed, 'task.fail', 'failure', {
        attempt: claimed.attempts,
        code: taskError.code,
        will_retry: false,
      }),
    });
    if (!written) {
      return 'stopped';
    }
    recordMetric(TASK_METRICS.failed, 1, { type: type.name });

    return taskError.code === TASK_TIMED_OUT_CODE ? 'timedOut' : 'failed';
  }

  private async retry(claimed: StoredTask, taskError: TaskError): Promise<TaskRunOutcome> {
    const delayMs = nextAttemptDelayMs(claimed.attempts, this.random);
    const retryAt = new Date(this.now().getTime() + delayMs).toISOString();

    const written = await this.finish(claimed, 'accepted', {
      set: { error: taskError, retry_at: retryAt },
      audit: this.auditEntry(claimed, 'task.fail', 'failure', {
        attempt: claimed.attempts,
        code: taskError.code,
        will_retry: true,
        retry_in_ms: delayMs,
      }),
    });
    if (written) {
      recordMetric(TASK_METRICS.retries, 1, { type: claimed.type });
    }

    return written ? 'retrying' : 'stopped';
  }

  /**
   * The attempt's last write, from `running` at the claim's version, releasing the lease. False
   * when the task moved meanwhile (it was cancelled): that move stands, this one is dropped.
   */
  private async finish(
    claimed: StoredTask,
    to: 'completed' | 'failed' | 'accepted',
    change: {
      readonly set: NonNullable<Parameters<TaskStore['transition']>[0]['set']>;
      readonly audit: UnsealedAuditEntry;
    },
  ): Promise<boolean> {
    try {
      await this.store.transition({
        taskId: claimed.task_id,
        from: 'running',
        to,
        expectedVersion: claimed.version,
        set: { ...change.set, lease: null },
        audit: change.audit,
      });

      return true;
    } catch (error) {
      if (error instanceof TaskConflictError) {
        this.log('info', 'task changed while it ran; the attempt writes nothing', claimed, { to });

        return false;
      }
      throw error;
    }
  }

  private auditEntry(
    task: StoredTask,
    operation: string,
    outcome: 'success' | 'failure',
    details: Record<string, AuditDetailValue>,
  ): UnsealedAuditEntry {
    return taskAuditEntry(task, operation, outcome, details, this.now());
  }

  private log(
    level: 'info' | 'warn' | 'error',
    message: string,
    task: StoredTask,
    fields: Record<string, unknown> = {},
  ): void {
    logger[level](message, {
      task_id: task.task_id,
      request_id: task.request_id,
      type: task.type,
      attempt: task.attempts,
      ...fields,
    });
  }
}

/**
 * An audit entry about `task` written by the gateway's execution: in the name of the task's
 * owner, on whose behalf the work runs (the executing function is in `details.worker` of
 * `task.execute`), and with the creating request's id, so that one id finds the request, its
 * log lines and every entry about the task.
 */
export const taskAuditEntry = (
  task: Pick<StoredTask, 'task_id' | 'owner' | 'request_id' | 'type'>,
  operation: string,
  outcome: 'success' | 'failure',
  details: Record<string, AuditDetailValue>,
  now: Date,
): UnsealedAuditEntry =>
  newAuditEntry(
    {
      service: TASK_AUDIT_SERVICE,
      operation,
      identity: task.owner,
      outcome,
      requestId: task.request_id,
      resource: { type: 'task', id: task.task_id },
      details: { type: task.type, ...details },
    },
    now,
  );

const noExecutorError = (type: TaskType): Error & { code: string; expose: boolean } =>
  Object.assign(new Error(`Task type ${type.name} has no executor in this gateway.`), {
    code: TASK_NO_EXECUTOR_CODE,
    expose: true,
  });
