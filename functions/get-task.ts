/** `GET /v1/tasks/{task_id}`: the caller's own task, its status, result or error, and its trail. */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskService } from '@shared/tasks/gateway-tasks';
import { getTask, requireCaller } from '@shared/tasks/task-service';

export const handler = httpRoute('getTask', {
  handle: async ({ pathParameters, identity }) => {
    const task = await getTask(
      requireCaller(identity),
      pathParameters.task_id,
      gatewayTaskService(),
    );

    return json(200, task, { 'Cache-Control': 'no-store' });
  },
});
