import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const from = (folder: string): string => fileURLToPath(new URL(`./${folder}/`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@shared/': from('shared'),
      '@functions/': from('functions'),
      '@infra/': from('infra'),
      '@local/': from('local'),
      '@test/': from('test'),
    },
  },
  test: {
    // Handlers log a line per request; tests that check logs capture them explicitly.
    // Tests never reach AWS: DynamoDB Local accepts any credentials.
    env: {
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'SILENT',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // DynamoDB Local takes seconds to start: one instance serves the whole run.
          globalSetup: ['test/setup/dynamodb-local.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
