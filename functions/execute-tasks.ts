/**
 * The `executeTasks` stream consumer: runs the internal tasks that the tasks table's stream
 * reports as `accepted`, new (INSERT) or put back for a retry or redelivered (MODIFY). Every
 * other record, of a task in another status, of an external type, or of an item that is no
 * task (an idempotency record), is passed over. The records of a batch run side by side: each
 * is bounded by its type's timeout, so the batch ends within the longest one.
 *
 * A record whose handling failed for a reason a retry may cure (the store throttled while
 * claiming) is reported in `batchItemFailures`; so is one that does not read as a task, which
 * after its retries lands in the failure queue for an operator. Records after it are delivered
 * again too, and skipped, since the claim of a task already run conflicts.
 */
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { logger } from '@shared/logging/logger';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';
import { gatewayTaskStore } from '@shared/tasks/dynamodb-task-store';
import { isTaskItem, readTaskItem } from '@shared/tasks/dynamodb-task-items';
import { gatewayWorker, TaskRunner } from '@shared/tasks/task-runner';
import type { ReadableItem } from '@shared/audit/dynamodb-audit-items';

let runner: TaskRunner | undefined;

const runnerFor = (context: Context): TaskRunner => {
  runner ??= new TaskRunner({
    store: gatewayTaskStore(),
    worker: gatewayWorker(context.functionName),
  });

  return runner;
};

const handleRecord = async (record: DynamoDBRecord, context: Context): Promise<boolean> => {
  const image = record.dynamodb?.NewImage as ReadableItem | undefined;
  const isWrite = record.eventName === 'INSERT' || record.eventName === 'MODIFY';
  if (!isWrite || !isTaskItem(image) || image?.status?.S !== 'accepted') {
    return true;
  }

  try {
    const outcome = await runnerFor(context).run(readTaskItem(image));
    logger.debug('task record handled', { task_id: image.task_id?.S, outcome });

    return true;
  } catch (error) {
    logger.error('task record failed; it will be delivered again', {
      task_id: image.task_id?.S,
      request_id: image.request_id?.S,
      sequence_number: record.dynamodb?.SequenceNumber,
      error,
    });

    return false;
  }
};

export const handler = withInvocationMetrics(
  async (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> => {
    const handled = await Promise.all(event.Records.map((record) => handleRecord(record, context)));
    const failed = event.Records.filter((_, index) => handled[index] === false);

    return {
      batchItemFailures: failed.map((record) => ({
        itemIdentifier: record.dynamodb?.SequenceNumber ?? '',
      })),
    };
  },
);
