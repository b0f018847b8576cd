/**
 * `POST /v1/tasks/claims`: an external worker takes the next due task of its types with a
 * lease; 204 when there is none.
 */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskWorkers } from '@shared/tasks/gateway-tasks';
import { requireCaller } from '@shared/tasks/task-service';
import { claimBodySchema, claimTask } from '@shared/tasks/task-workers';

export const handler = httpRoute('claimTask', {
  body: claimBodySchema,
  handle: async ({ body, identity, requestId }) => {
    const claimed = await claimTask(
      { worker: requireCaller(identity), requestId },
      body,
      gatewayTaskWorkers(),
    );

    return claimed === undefined ? { statusCode: 204, headers: {} } : json(200, claimed);
  },
});
