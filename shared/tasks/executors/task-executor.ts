/**
 * What the gateway runs for an internal task type: an executor, one function per type, given
 * the task as claimed for this attempt. The runner (`task-runner.ts`) owns everything around it:
 * the claim, the timeout, the retries, the final write and its audit entry. An executor only
 * does the work and returns the result, which must be JSON.
 */
import type { StoredTask } from '@shared/tasks/task-store';

/** One attempt as its executor sees it. */
export interface TaskExecution {
  /** The task as the claim wrote it: `running`, with this attempt counted in `attempts`. */
  readonly task: StoredTask;
  /**
   * Aborted when the attempt must stop: the type's timeout passed, or a checkpoint found the
   * task cancelled. Its `reason` is the error to reject with.
   */
  readonly signal: AbortSignal;
  /**
   * Re-reads the task and rejects when this attempt no longer holds it (it was cancelled, or
   * a sweep gave it to another attempt); it also aborts `signal`. Call it between steps, where
   * stopping leaves nothing half done; it costs one read of the tasks table.
   */
  checkpoint(): Promise<void>;
}

/**
 * Runs one attempt and resolves with the task's `result`. A rejection with an error whose
 * `code` is permanent (`isPermanentTaskError`) fails the task at once; any other rejection is
 * retried while attempts are left. An error with `expose: true` has a message the task's owner
 * may read; any other error reaches the owner as a generic message and the log in full.
 */
export type TaskExecutor = (execution: TaskExecution) => Promise<unknown>;
