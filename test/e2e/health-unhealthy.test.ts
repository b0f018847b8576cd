import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import type { LocalGateway } from '@local/runtime';
import { startTestGateway } from '@test/fixtures/local-gateway';

let gateway: LocalGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.stop();
});

describe('GET /health when a dependency is gone', () => {
  it('answers 503 with the service that lost its table unhealthy and the others healthy', async () => {
    const admin = new DynamoDBClient({ endpoint: gateway.dynamoEndpoint });
    await admin.send(
      new DeleteTableCommand({ TableName: physicalTableName(gateway.stage, 'clients') }),
    );
    admin.destroy();

    const response = await fetch(`${gateway.url}/health`);
    const body = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBe(503);
    expect(body).toMatchObject({
      status: 'unhealthy',
      services: { 'blux-lite': 'healthy', 'blux-guard': 'healthy', 'blux-reg': 'unhealthy' },
    });
    const checks = body.checks as Record<string, { status: string; error?: string }[]>;
    expect(checks['blux-reg']?.[0]).toMatchObject({
      status: 'fail',
      error: 'ResourceNotFoundException',
    });
  });
});
