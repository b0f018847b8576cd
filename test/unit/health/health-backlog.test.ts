import type { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { type GetQueueAttributesCommandOutput, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import {
  failureQueueCheck,
  failureQueueUrls,
  FAILURE_QUEUE_URLS_VARIABLE,
} from '@shared/health/backlog-checks';
import { evaluateHealth, type BacklogReading, type HealthCheck } from '@shared/health/health';

const quick = (name: string): HealthCheck => ({ name, probe: async () => undefined });

const slow = (name: string, delayMs: number): HealthCheck => ({
  name,
  probe: () => new Promise((done) => setTimeout(done, delayMs)),
});

const reading = (name: string, backlog: BacklogReading): HealthCheck => ({
  name,
  probe: async () => backlog,
});

/** SQS's answer for a queue holding `visible` and `inFlight` messages. */
const queueHolding = (visible: number, inFlight: number) => {
  const sent: GetQueueAttributesCommand[] = [];
  const client = {
    send: async (command: GetQueueAttributesCommand) => {
      sent.push(command);
      const output: Partial<GetQueueAttributesCommandOutput> = {
        Attributes: {
          ApproximateNumberOfMessages: String(visible),
          ApproximateNumberOfMessagesNotVisible: String(inFlight),
        },
      };

      return output;
    },
  } as unknown as Pick<SQSClient, 'send'>;

  return { client, sent };
};

describe('health with backlogs', () => {
  it('turns a service degraded when a backlog is over its limit, and says by how much', async () => {
    const report = await evaluateHealth({
      'blux-lite': [quick('table:tasks')],
      'blux-guard': [
        quick('table:audit'),
        reading('audit-sealing-lag', { value: 95_000, unit: 'ms', limit: 60_000 }),
      ],
      'blux-reg': [quick('table:clients')],
    });

    expect(report.status).toBe('degraded');
    expect(report.services).toEqual({
      'blux-lite': 'healthy',
      'blux-guard': 'degraded',
      'blux-reg': 'healthy',
    });
    expect(report.checks['blux-guard'][1]).toMatchObject({
      name: 'audit-sealing-lag',
      status: 'backlog',
      backlog: { value: 95_000, unit: 'ms', limit: 60_000 },
    });
  });

  it('stays healthy with a backlog at its limit, and reports the reading', async () => {
    const report = await evaluateHealth({
      'blux-lite': [reading('failure-queue:taskEvents', { value: 0, unit: 'messages', limit: 0 })],
      'blux-guard': [quick('table:audit')],
      'blux-reg': [quick('table:clients')],
    });

    expect(report.status).toBe('healthy');
    expect(report.checks['blux-lite'][0]).toMatchObject({ status: 'pass', backlog: { value: 0 } });
  });

  it('turns a service degraded when a check is slow, with its latency', async () => {
    const report = await evaluateHealth(
      {
        'blux-lite': [quick('table:tasks')],
        'blux-guard': [quick('table:audit')],
        'blux-reg': [slow('token-keys', 80)],
      },
      { slowMs: 40 },
    );

    expect(report.services['blux-reg']).toBe('degraded');
    const check = report.checks['blux-reg'][0];
    expect(check?.status).toBe('slow');
    expect(check?.latency_ms).toBeGreaterThanOrEqual(70);
  });

  it('counts in-flight and visible messages of a failure queue against a limit of none', async () => {
    const { client, sent } = queueHolding(1, 2);
    const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/blux-dev-sealAudit-failures';

    const result = await failureQueueCheck('sealAudit', url, client).probe(
      new AbortController().signal,
    );

    expect(result).toEqual({ value: 3, unit: 'messages', limit: 0 });
    expect(sent[0]?.input.QueueUrl).toBe(url);
  });

  it('reads the failure queue URLs from the environment and refuses a malformed value', () => {
    expect(failureQueueUrls(undefined)).toEqual({});
    expect(failureQueueUrls('{"sealAudit": "https://sqs.example/q"}')).toEqual({
      sealAudit: 'https://sqs.example/q',
    });
    expect(() => failureQueueUrls('{"sealAudit": 3}')).toThrow(FAILURE_QUEUE_URLS_VARIABLE);
  });
});
