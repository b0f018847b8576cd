/** `GET /v1/tasks`: the caller's tasks, newest first, filtered by status and type, a page at a time. */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskService } from '@shared/tasks/gateway-tasks';
import { listTasks, requireCaller, taskListQuerySchema } from '@shared/tasks/task-service';

export const handler = httpRoute('listTasks', {
  query: taskListQuerySchema,
  handle: async ({ query, identity }) => {
    const page = await listTasks(requireCaller(identity), query, gatewayTaskService());

    return json(200, page, { 'Cache-Control': 'no-store' });
  },
});
