/**
 * `GET /health`: the status of each BLUX service, from real checks of its dependencies, and
 * of the backlogs behind it: the audit sealing lag, and in AWS each stream consumer's failure
 * queue (under the service whose table the consumer reads).
 */
import { tableProbe } from '@shared/aws/table-probe';
import type { ServiceName } from '@shared/catalog/services';
import { STREAM_CONSUMERS } from '@shared/catalog/stream-consumers';
import type { TableId } from '@shared/catalog/tables';
import {
  failureQueueCheck,
  failureQueueUrls,
  sealingLagCheck,
} from '@shared/health/backlog-checks';
import { evaluateHealth, type HealthCheck } from '@shared/health/health';
import { tokenKeySource } from '@shared/identity/token-keys';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

/** The service a stream consumer works for, by the table whose stream it reads. */
const SERVICE_OF_TABLE: Record<TableId, ServiceName> = {
  tasks: 'blux-lite',
  audit: 'blux-guard',
  auditCheckpoints: 'blux-guard',
  rateCounters: 'blux-guard',
  clients: 'blux-reg',
  // The event channels carry task and audit changes out to subscribers: part of serving tasks.
  events: 'blux-lite',
  connections: 'blux-lite',
};

/** The token keys answer: the ring is readable locally, KMS gives the public keys in AWS. */
const tokenKeysProbe: HealthCheck = {
  name: 'token-keys',
  probe: async () => {
    if ((await tokenKeySource().publishedKeys()).length === 0) {
      throw new Error('no token key is published');
    }
  },
};

const queueChecksOf = (service: ServiceName): HealthCheck[] => {
  const urls = failureQueueUrls();

  return STREAM_CONSUMERS.filter(
    (consumer) => SERVICE_OF_TABLE[consumer.table] === service && urls[consumer.id] !== undefined,
  ).map((consumer) => failureQueueCheck(consumer.id, urls[consumer.id] ?? ''));
};

const checks: Record<ServiceName, readonly HealthCheck[]> = {
  'blux-lite': [
    tableProbe('tasks'),
    tableProbe('events'),
    tableProbe('connections'),
    ...queueChecksOf('blux-lite'),
  ],
  'blux-guard': [
    tableProbe('audit'),
    tableProbe('auditCheckpoints'),
    tableProbe('rateCounters'),
    sealingLagCheck(),
    ...queueChecksOf('blux-guard'),
  ],
  'blux-reg': [tableProbe('clients'), tokenKeysProbe, ...queueChecksOf('blux-reg')],
};

export const handler = httpRoute('getHealth', {
  handle: async () => {
    const report = await evaluateHealth(checks);

    return json(report.status === 'unhealthy' ? 503 : 200, report, { 'Cache-Control': 'no-store' });
  },
});
