/** `POST /v1/tasks/{task_id}/cancel`: cancels the caller's task unless it has finished. */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskService } from '@shared/tasks/gateway-tasks';
import { cancelTask, requireCaller } from '@shared/tasks/task-service';

export const handler = httpRoute('cancelTask', {
  handle: async ({ pathParameters, identity, requestId }) => {
    const task = await cancelTask(
      requireCaller(identity),
      pathParameters.task_id,
      requestId,
      gatewayTaskService(),
    );

    return json(200, task);
  },
});
