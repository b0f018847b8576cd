/**
 * Vitest global setup: one DynamoDB Local for the whole run. Test files reach it through
 * `inject('dynamoEndpoint')` and isolate themselves with their own table stage names.
 */
import 'vitest';
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, type DynamoDbLocal } from '@local/dynamodb-local';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

let dynamo: DynamoDbLocal | undefined;

export const setup = async (project: TestProject): Promise<void> => {
  dynamo = await startDynamoDbLocal();
  project.provide('dynamoEndpoint', dynamo.endpoint);
};

export const teardown = async (): Promise<void> => {
  await dynamo?.stop();
};
