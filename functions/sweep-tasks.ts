/**
 * The `sweepTasks` scheduled function: one sweep of the internal task types (see
 * `shared/tasks/task-sweeper.ts`), every minute in AWS through an EventBridge rule and every
 * second or so in the local runtime. It only writes; the tasks it redelivers run in the
 * `executeTasks` consumer.
 */
import { logger } from '@shared/logging/logger';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';
import { gatewayTaskRedelivery } from '@shared/tasks/dynamodb-task-redelivery';
import { gatewayTaskStore } from '@shared/tasks/dynamodb-task-store';
import { TaskSweeper, type SweepReport } from '@shared/tasks/task-sweeper';

let sweeper: TaskSweeper | undefined;

export const handler = withInvocationMetrics(async (): Promise<SweepReport> => {
  sweeper ??= new TaskSweeper({ store: gatewayTaskStore(), redelivery: gatewayTaskRedelivery() });

  const report = await sweeper.sweep();
  if (report.redelivered + report.retried + report.failed > 0) {
    logger.info('tasks swept', { ...report });
  }

  return report;
});
