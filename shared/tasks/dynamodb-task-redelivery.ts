/**
 * The sweeper's redelivery on the tasks table: an `UpdateItem` that moves only `version` and
 * `updated_at`, so that the table's stream carries the task again and the executor consumer
 * claims it as it claims a new one. It is conditional on the status and the version the sweep
 * read, so a task claimed or cancelled since is left as it is. The task's content, status,
 * audit trail and place in `by_queue` are not touched: no audit entry goes with it, because
 * nothing about the task changes.
 */
import {
  ConditionalCheckFailedException,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import { taskKey } from './dynamodb-task-items';
import type { StoredTask } from './task-store';
import type { TaskRedelivery } from './task-sweeper';

export class DynamoDbTaskRedelivery implements TaskRedelivery {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async redeliver(task: StoredTask): Promise<boolean> {
    try {
      await withDynamoDbErrors(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: taskKey(task.task_id),
            UpdateExpression: 'SET updated_at = :now, version = version + :one',
            ConditionExpression: '#status = :accepted AND version = :version',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':now': { S: this.now().toISOString() },
              ':one': { N: '1' },
              ':accepted': { S: 'accepted' },
              ':version': { N: String(task.version) },
            },
          }),
        ),
      );

      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
  }
}

let shared: DynamoDbTaskRedelivery | undefined;

/** The redelivery of the running function, on the stack's tasks table. */
export const gatewayTaskRedelivery = (): DynamoDbTaskRedelivery => {
  shared ??= new DynamoDbTaskRedelivery(dynamoDb(), tableName('tasks'));

  return shared;
};
