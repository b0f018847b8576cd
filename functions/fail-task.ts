/**
 * `POST /v1/tasks/{task_id}/fail`: the lease holder reports a failed attempt; the task is tried
 * again after a backoff while attempts are left and the error is retryable, else it fails.
 */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskWorkers } from '@shared/tasks/gateway-tasks';
import { requireCaller } from '@shared/tasks/task-service';
import { failBodySchema, failTask } from '@shared/tasks/task-workers';

export const handler = httpRoute('failTask', {
  body: failBodySchema,
  handle: async ({ body, pathParameters, identity, requestId }) => {
    const task = await failTask(
      { worker: requireCaller(identity), requestId },
      pathParameters.task_id,
      body,
      gatewayTaskWorkers(),
    );

    return json(200, task);
  },
});
