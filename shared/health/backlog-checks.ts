/**
 * Health checks that read a backlog rather than a dependency's answer: the sealing lag of the
 * audit trail, and the batches waiting in each stream consumer's failure queue. Either one
 * over its limit makes its service `degraded`, not `unhealthy`: requests are still served,
 * but something behind them needs an operator.
 */
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { measureSealingLag, SEALING_GRACE_MS } from '@shared/audit/audit-sealing-lag';
import { dynamoDb } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import type { HealthCheck } from './health';

/**
 * The variable that names each consumer's failure queue, as JSON `{"<consumer id>": "<queue
 * URL>"}`. The stack sets it on the health function; locally failures go to the log and there
 * is no queue to read.
 */
export const FAILURE_QUEUE_URLS_VARIABLE = 'BLUX_FAILURE_QUEUE_URLS';

/** Any batch in a failure queue is a record that was never processed: one is too many. */
export const FAILURE_QUEUE_DEPTH_LIMIT = 0;

/** The sealing lag: degraded once an entry has waited past the grace to be sealed. */
export const sealingLagCheck = (): HealthCheck => ({
  name: 'audit-sealing-lag',
  probe: async (signal) => ({
    value: await measureSealingLag({ client: dynamoDb(), tableName: tableName('audit'), signal }),
    unit: 'ms',
    limit: SEALING_GRACE_MS,
  }),
});

/** The consumers' failure queue URLs from the environment; none when it is unset. */
export const failureQueueUrls = (
  value: string | undefined = process.env[FAILURE_QUEUE_URLS_VARIABLE],
): Record<string, string> => {
  if (value === undefined || value === '') {
    return {};
  }
  const parsed: unknown = JSON.parse(value);
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.values(parsed).every((url) => typeof url === 'string');
  if (!valid) {
    throw new Error(
      `config.invalidFailureQueues: ${FAILURE_QUEUE_URLS_VARIABLE} must map consumer ids to URLs`,
    );
  }

  return parsed as Record<string, string>;
};

let sqs: SQSClient | undefined;

/** The depth of one consumer's failure queue, visible and in-flight messages together. */
export const failureQueueCheck = (
  consumerId: string,
  queueUrl: string,
  client: Pick<SQSClient, 'send'> = (sqs ??= new SQSClient({})),
): HealthCheck => ({
  name: `failure-queue:${consumerId}`,
  probe: async (signal) => {
    const { Attributes: attributes = {} } = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
      { abortSignal: signal },
    );
    const depth =
      Number(attributes.ApproximateNumberOfMessages ?? 0) +
      Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0);

    return { value: depth, unit: 'messages', limit: FAILURE_QUEUE_DEPTH_LIMIT };
  },
});
