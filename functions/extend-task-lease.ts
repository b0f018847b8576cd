/** `POST /v1/tasks/{task_id}/lease`: the lease holder keeps its task a while longer. */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskWorkers } from '@shared/tasks/gateway-tasks';
import { requireCaller } from '@shared/tasks/task-service';
import { extendTaskLease, leaseBodySchema } from '@shared/tasks/task-workers';

export const handler = httpRoute('extendTaskLease', {
  body: leaseBodySchema.optional(),
  handle: async ({ body, pathParameters, identity, requestId }) => {
    const task = await extendTaskLease(
      { worker: requireCaller(identity), requestId },
      pathParameters.task_id,
      body ?? {},
      gatewayTaskWorkers(),
    );

    return json(200, task);
  },
});
