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
