/**
 * Functions that run on a schedule rather than on a request or a stream record, declared once:
 * the CDK stack gives each an EventBridge rule, and the local runtime calls the same handler on
 * a timer of its own, more often, since a laptop has no minute to spare in a test.
 */
import type { TableAccess } from './routes';
import type { TableId } from './tables';

export interface ScheduleDeclaration {
  readonly id: string;
  /** Handler module relative to the repository root; it exports `handler`. */
  readonly handler: string;
  /** Minutes between two invocations in AWS (an EventBridge `rate`). */
  readonly rateMinutes: number;
  /** Milliseconds between two invocations in the local runtime; none overlap. */
  readonly localIntervalMs: number;
  /** How long one invocation may run. */
  readonly timeoutSeconds: number;
  /** Tables the handler reads or writes. */
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
}

export const SCHEDULES: readonly ScheduleDeclaration[] = [
  {
    // Redelivers tasks whose stream record was left behind and takes back attempts whose
    // function died (`shared/tasks/task-sweeper.ts`).
    id: 'sweepTasks',
    handler: 'functions/sweep-tasks.ts',
    rateMinutes: 1,
    localIntervalMs: 1_000,
    timeoutSeconds: 60,
    tables: { tasks: 'readWrite', audit: 'append' },
  },
];
