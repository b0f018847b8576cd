/**
 * The safety net under stream-driven execution. A task runs when the tasks table's stream
 * delivers its record, but a delivery can be left behind: a record that went to the failure
 * destination, a retry due later than the consumer waits (`MAX_INLINE_RETRY_WAIT_MS`), an
 * attempt whose function died mid-run. The sweeper, run on a schedule, asks the store for the
 * live tasks of each internal type that are due (`dueTasks`, from the `by_queue` index) and:
 *
 * - an `accepted` task due for `REDELIVER_AFTER_SECONDS` or longer that nobody claimed gets a
 *   fresh stream record: a write that bumps only its version, conditional on the status and
 *   the version the sweep read. The executor consumer then claims it as it claims any record,
 *   so every attempt runs in the one function that has the datasets and the time for it, and
 *   the sweeper stays a short function. The delay keeps it from racing a record the stream is
 *   about to deliver anyway; were it to, the claim's version condition lets one through.
 * - a `running` task whose lease ran out (its attempt's function died before the runner could
 *   write anything) is put back to `accepted` for another attempt while `shouldRetry` allows,
 *   or failed as timed out, conditional on the version the sweep read.
 *
 * External types are claimed by their workers, whose expired leases the claim itself handles;
 * the sweeper leaves them alone.
 */
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import {
  nextAttemptDelayMs,
  shouldRetry,
  TASK_TIMED_OUT_CODE,
  type RandomSource,
} from './retry-policy';
import type { TaskError } from './task';
import { TaskConflictError, type StoredTask, type TaskStore } from './task-store';
import { TASK_TYPES, type TaskType } from './task-types';
import { registeredTaskTypes } from './executors/executor-registry';
import { TASK_METRICS, taskAuditEntry } from './task-runner';

/** Due tasks handled per type and sweep; the next sweep takes the rest, oldest first. */
export const SWEEP_LIMIT_PER_TYPE = 25;

/** How long an accepted task may be due before the sweeper redelivers it. */
export const REDELIVER_AFTER_SECONDS = 30;

/** An attempt whose lease ran out without a word from it: worth another attempt. */
export const TASK_ATTEMPT_LOST_CODE = 'task.attemptLost';

const MS_PER_SECOND = 1000;

/** Makes the tasks table's stream carry a task again, without changing what it holds. */
export interface TaskRedelivery {
  /** False when the task is no longer `accepted` at `task.version`: nothing to redeliver. */
  redeliver(task: StoredTask): Promise<boolean>;
}

export interface TaskSweeperOptions {
  readonly store: TaskStore;
  readonly redelivery: TaskRedelivery;
  /** The types to sweep; default every internal type, built in or registered. */
  readonly types?: () => readonly TaskType[];
  /** Default the system clock. */
  readonly now?: () => Date;
  /** Draws the retry delays; default `Math.random`. */
  readonly random?: RandomSource;
  /** Default {@link SWEEP_LIMIT_PER_TYPE}. */
  readonly limitPerType?: number;
  /** Default {@link REDELIVER_AFTER_SECONDS}. */
  readonly redeliverAfterSeconds?: number;
}

/** What one sweep did. */
export interface SweepReport {
  /** Accepted tasks given a fresh stream record. */
  readonly redelivered: number;
  /** Running tasks with a spent lease put back for another attempt. */
  readonly retried: number;
  /** Running tasks with a spent lease and no attempt left, failed as timed out. */
  readonly failed: number;
}

/** Every internal type this process knows. */
export const internalTaskTypes = (): TaskType[] =>
  [...TASK_TYPES, ...registeredTaskTypes()].filter((type) => type.execution === 'internal');

type Action = keyof SweepReport | 'none';

export class TaskSweeper {
  private readonly options: Required<TaskSweeperOptions>;

  constructor(options: TaskSweeperOptions) {
    this.options = {
      types: internalTaskTypes,
      now: () => new Date(),
      random: Math.random,
      limitPerType: SWEEP_LIMIT_PER_TYPE,
      redeliverAfterSeconds: REDELIVER_AFTER_SECONDS,
      ...options,
    };
  }

  /** Sweeps every type once; rejects only when the store fails. */
  async sweep(): Promise<SweepReport> {
    const counts = { redelivered: 0, retried: 0, failed: 0 };
    const now = this.options.now();

    for (const type of this.options.types()) {
      const due = await this.options.store.dueTasks(
        type.name,
        now.toISOString(),
        this.options.limitPerType,
      );
      for (const task of due) {
        const action = await this.handle(task, type, now);
        if (action !== 'none') {
          counts[action] += 1;
        }
      }
    }

    return counts;
  }

  private async handle(task: StoredTask, type: TaskType, now: Date): Promise<Action> {
    if (task.status === 'accepted') {
      return this.redeliverIfStale(task, now);
    }
    const leaseExpiresAt = task.lease?.expires_at;
    if (task.status !== 'running' || leaseExpiresAt === undefined) {
      return 'none';
    }
    if (Date.parse(leaseExpiresAt) > now.getTime()) {
      return 'none';
    }

    return this.recoverLostAttempt(task, type, leaseExpiresAt, now);
  }

  private async redeliverIfStale(task: StoredTask, now: Date): Promise<Action> {
    const dueAt = Date.parse(task.retry_at ?? task.created_at);
    if (now.getTime() - dueAt < this.options.redeliverAfterSeconds * MS_PER_SECOND) {
      return 'none';
    }
    const redelivered = await this.options.redelivery.redeliver(task);
    if (redelivered) {
      log('task redelivered to the executor', task, { due_at: new Date(dueAt).toISOString() });
    }

    return redelivered ? 'redelivered' : 'none';
  }

  private async recoverLostAttempt(
    task: StoredTask,
    type: TaskType,
    leaseExpiresAt: string,
    now: Date,
  ): Promise<Action> {
    const lost: TaskError = {
      code: TASK_ATTEMPT_LOST_CODE,
      message:
        `Attempt ${task.attempts} stopped without finishing; ` +
        `its lease ran out at ${leaseExpiresAt}.`,
    };
    const retry = shouldRetry(type, task.attempts, lost);
    const delayMs = nextAttemptDelayMs(task.attempts, this.options.random);
    const error: TaskError = retry
      ? lost
      : {
          code: TASK_TIMED_OUT_CODE,
          message:
            `The task did not finish within its type's timeout of ${type.timeoutSeconds} s ` +
            `(attempt ${task.attempts} of ${type.maxAttempts}).`,
        };

    try {
      await this.options.store.transition({
        taskId: task.task_id,
        from: 'running',
        to: retry ? 'accepted' : 'failed',
        expectedVersion: task.version,
        set: retry
          ? { lease: null, error, retry_at: new Date(now.getTime() + delayMs).toISOString() }
          : { lease: null, error, finished_at: now.toISOString() },
        audit: taskAuditEntry(
          task,
          'task.fail',
          'failure',
          { attempt: task.attempts, code: error.code, will_retry: retry, lease_expired: true },
          now,
        ),
      });
    } catch (caught) {
      if (caught instanceof TaskConflictError) {
        return 'none';
      }
      throw caught;
    }

    recordMetric(retry ? TASK_METRICS.retries : TASK_METRICS.failed, 1, { type: type.name });
    log('task with a spent lease taken back', task, { will_retry: retry, lease: leaseExpiresAt });

    return retry ? 'retried' : 'failed';
  }
}

const log = (message: string, task: StoredTask, fields: Record<string, unknown>): void => {
  logger.warn(message, {
    task_id: task.task_id,
    request_id: task.request_id,
    type: task.type,
    attempt: task.attempts,
    ...fields,
  });
};
