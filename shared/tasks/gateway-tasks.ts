/**
 * The task services of a running function, from its configuration: the stores on the stack's
 * tables and the key of the listing's page tokens.
 */
import { secretString } from '@shared/aws/secrets';
import { auditPageTokenSecret, auditPageTokenSecretArn } from '@shared/config';
import { gatewayIdempotencyStore } from './dynamodb-idempotency-store';
import { gatewayTaskStore } from './dynamodb-task-store';
import type { TaskServiceDependencies } from './task-service';
import type { WorkerDependencies } from './task-workers';

/**
 * The page-token key. The gateway has one such key, kept for the audit listing's tokens, and
 * the task listing signs with it too: each listing's tokens carry a context line of their own,
 * so neither verifies as the other's. In AWS it comes from Secrets Manager by ARN, which the
 * stack must pass to the `listTasks` function as it does to `listAuditEntries`.
 */
const pageTokenSecret = async (): Promise<string> => {
  const secretArn = auditPageTokenSecretArn();

  return secretArn === undefined ? auditPageTokenSecret() : secretString(secretArn);
};

/** What the owner-facing task routes run with. */
export const gatewayTaskService = (): TaskServiceDependencies => ({
  store: gatewayTaskStore(),
  idempotency: gatewayIdempotencyStore(),
  pageTokenSecret,
});

/** What the external-worker routes run with. */
export const gatewayTaskWorkers = (): WorkerDependencies => ({ store: gatewayTaskStore() });
