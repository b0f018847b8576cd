/** `POST /v1/tasks/{task_id}/complete`: the lease holder hands in its task's result. */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskWorkers } from '@shared/tasks/gateway-tasks';
import { requireCaller } from '@shared/tasks/task-service';
import { completeBodySchema, completeTask } from '@shared/tasks/task-workers';

export const handler = httpRoute('completeTask', {
  body: completeBodySchema,
  handle: async ({ body, pathParameters, identity, requestId }) => {
    const task = await completeTask(
      { worker: requireCaller(identity), requestId },
      pathParameters.task_id,
      body,
      gatewayTaskWorkers(),
    );

    return json(200, task);
  },
});
