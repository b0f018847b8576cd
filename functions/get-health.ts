/** `GET /health`: the status of each BLUX service, from real checks of its dependencies. */
import { tableProbe } from '@shared/aws/table-probe';
import { evaluateHealth, type HealthCheck } from '@shared/health/health';
import { tokenKeySource } from '@shared/identity/token-keys';
import type { ServiceName } from '@shared/catalog/services';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

/** The token keys answer: the ring is readable locally, KMS gives the public keys in AWS. */
const tokenKeysProbe: HealthCheck = {
  name: 'token-keys',
  probe: async () => {
    if ((await tokenKeySource().publishedKeys()).length === 0) {
      throw new Error('no token key is published');
    }
  },
};

const checks: Record<ServiceName, readonly HealthCheck[]> = {
  'blux-lite': [tableProbe('tasks')],
  'blux-guard': [tableProbe('audit'), tableProbe('auditCheckpoints'), tableProbe('rateCounters')],
  'blux-reg': [tableProbe('clients'), tokenKeysProbe],
};

export const handler = httpRoute('getHealth', {
  handle: async () => {
    const report = await evaluateHealth(checks);

    return json(report.status === 'unhealthy' ? 503 : 200, report, { 'Cache-Control': 'no-store' });
  },
});
