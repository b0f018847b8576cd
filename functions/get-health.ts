/** `GET /health`: the status of each BLUX service, from real checks of its dependencies. */
import { tableProbe } from '@shared/aws/table-probe';
import { evaluateHealth, type HealthCheck } from '@shared/health/health';
import type { ServiceName } from '@shared/catalog/services';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

const checks: Record<ServiceName, readonly HealthCheck[]> = {
  'blux-lite': [tableProbe('tasks')],
  'blux-guard': [tableProbe('audit'), tableProbe('rateCounters')],
  'blux-reg': [tableProbe('clients')],
};

export const handler = httpRoute('getHealth', {
  handle: async () => {
    const report = await evaluateHealth(checks);

    return json(report.status === 'unhealthy' ? 503 : 200, report, { 'Cache-Control': 'no-store' });
  },
});
