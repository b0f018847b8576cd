/**
 * What the `executeTasks` handler passes over and what it reports as failed, without a
 * database: every record here is settled before the runner would touch the store.
 */
import type { AttributeValue } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { taskItem } from '@shared/tasks/dynamodb-task-items';
import { taskPk, type StoredTask } from '@shared/tasks/task-store';
import { DOCUMENT_REVIEW_TASK_TYPE } from '@shared/tasks/task-types';
import { handler } from '@functions/execute-tasks';
import { dynamoDbStreamEvent, lambdaContext, type StreamRecordInput } from '@test/fixtures/events';
import { acceptedTask } from '@test/fixtures/tasks';

beforeAll(() => {
  // The handler builds its store on first use; building one reads the table names only.
  process.env.TABLE_TASKS ??= 'blux-unit-tasks';
  process.env.TABLE_AUDIT ??= 'blux-unit-audit';
});

const context = lambdaContext('blux-unit-execute-tasks');

/** A stream record of `task` as written; the layout holds no binary attribute. */
const record = (
  eventName: StreamRecordInput['eventName'],
  task: StoredTask,
  change: (image: Record<string, AttributeValue>) => void = () => undefined,
  sequenceNumber?: string,
): StreamRecordInput => {
  const image = taskItem(task) as unknown as Record<string, AttributeValue>;
  change(image);

  return {
    eventName,
    keys: { pk: { S: taskPk(task.task_id) }, sk: { S: 'task' } },
    ...(eventName === 'REMOVE' ? {} : { newImage: image }),
    ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
  };
};

describe('the executeTasks handler', () => {
  it('passes over items that are no task, tasks in other statuses and removals', async () => {
    const event = dynamoDbStreamEvent([
      { eventName: 'INSERT', keys: { pk: { S: 'idem#key' } }, newImage: { pk: { S: 'idem#key' } } },
      record('MODIFY', { ...acceptedTask('data_analysis'), status: 'running' }),
      record('REMOVE', acceptedTask('data_analysis')),
    ]);

    expect(await handler(event, context)).toEqual({ batchItemFailures: [] });
  });

  it('passes over an accepted task of an external type: its workers claim it', async () => {
    const event = dynamoDbStreamEvent([
      record('INSERT', acceptedTask(DOCUMENT_REVIEW_TASK_TYPE.name)),
    ]);

    expect(await handler(event, context)).toEqual({ batchItemFailures: [] });
  });

  it('reports a task record it cannot read, so that it ends in the failure queue', async () => {
    const withoutOwner = (image: Record<string, AttributeValue>): void => {
      delete image.owner;
    };
    const event = dynamoDbStreamEvent([
      record('INSERT', acceptedTask(DOCUMENT_REVIEW_TASK_TYPE.name), undefined, '7'),
      record('INSERT', acceptedTask('data_analysis'), withoutOwner, '8'),
    ]);

    expect(await handler(event, context)).toEqual({ batchItemFailures: [{ itemIdentifier: '8' }] });
  });
});
