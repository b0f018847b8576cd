/**
 * `POST /v1/tasks`: creates a task for the caller and answers 202 with where to follow it.
 * With an `Idempotency-Key`, a retry of the same request answers what the first one did.
 */
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { gatewayTaskService } from '@shared/tasks/gateway-tasks';
import { createTask, requireCaller } from '@shared/tasks/task-service';
import { z } from '@shared/validation/schema';

export const handler = httpRoute('createTask', {
  // Checked by the service, member by member, so that every bad field is named at once.
  body: z.unknown(),
  handle: async ({ body, headers, identity, requestId }) => {
    const response = await createTask(
      requireCaller(identity),
      { body, idempotencyKey: headers['idempotency-key'], requestId },
      gatewayTaskService(),
    );

    return json(response.status, response.body, response.headers);
  },
});
