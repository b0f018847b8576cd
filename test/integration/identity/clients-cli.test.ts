import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { TABLE_IDS, physicalTableName } from '@shared/catalog/tables';
import { verifyClientSecret } from '@shared/identity/client-registry';
import { DynamoDbClientStore } from '@shared/identity/dynamodb-client-store';
import { STAGES } from '@infra/stage-config';
import { LOCAL_AWS_ENV } from '@local/dynamodb-local';
import { ensureTables } from '@local/tables';
import { uniqueStage } from '@test/fixtures/local-gateway';
import {
  DEPLOYED_STAGES,
  EXIT_CODES,
  RUNTIME_FILE,
  runClientsCommand,
} from '../../../scripts/clients';

const endpoint = inject('dynamoEndpoint');
const dynamo = new DynamoDBClient({
  endpoint,
  region: LOCAL_AWS_ENV.AWS_REGION,
  credentials: {
    accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  },
});
const stage = uniqueStage('reg');
const store = new DynamoDbClientStore(dynamo, physicalTableName(stage, 'clients'));
const target = ['--endpoint', endpoint, '--stage', stage];

let workDir: string;

beforeAll(async () => {
  await ensureTables(dynamo, (id) => physicalTableName(stage, id));
  workDir = await mkdtemp(join(tmpdir(), 'blux-clients-'));
});

afterAll(async () => {
  for (const id of TABLE_IDS) {
    await dynamo.send(new DeleteTableCommand({ TableName: physicalTableName(stage, id) }));
  }
  dynamo.destroy();
  await rm(workDir, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly stdout: string[];
  readonly stderr: string[];
}

const run = async (argv: readonly string[], cwd = workDir): Promise<Run> => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runClientsCommand(argv, {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
    cwd,
    env: {},
  });

  return { code, stdout, stderr };
};

/** The secret from `Client secret: ...`, checking that the output shows it exactly once. */
const printedSecret = (result: Run): string => {
  const lines = result.stdout.filter((line) => line.startsWith('Client secret: '));
  expect(lines).toHaveLength(1);
  const secret = (lines[0] ?? '').slice('Client secret: '.length);
  const everything = [...result.stdout, ...result.stderr].join('\n');
  expect(everything.split(secret)).toHaveLength(2);

  return secret;
};

describe('clients create', () => {
  it('registers a client and prints its secret once, with a warning', async () => {
    const result = await run([
      'create',
      '--id',
      'cli-billing',
      '--scopes',
      'tasks:read tasks:write',
      '--cert-subject',
      'CN=billing,O=BLUX',
      '--cert-subject',
      'CN=billing-2,O=BLUX',
      '--rate-per-minute',
      '600',
      '--rate-per-second',
      '20',
      ...target,
    ]);

    expect(result.code).toBe(EXIT_CODES.ok);
    const secret = printedSecret(result);
    expect(result.stdout).toContain(
      'Store it now: this secret is not kept and cannot be shown again.',
    );
    const stored = await store.get('cli-billing');
    expect(stored).toMatchObject({
      scopes: ['tasks:read', 'tasks:write'],
      certificateSubjects: ['CN=billing,O=BLUX', 'CN=billing-2,O=BLUX'],
      rateLimits: { perMinute: 600, perSecond: 20 },
      status: 'active',
    });
    await expect(verifyClientSecret(stored, secret, new Date())).resolves.toBe(true);
  });

  it('fails with one line when the id exists', async () => {
    await run(['create', '--id', 'cli-twice', ...target]);

    const result = await run(['create', '--id', 'cli-twice', ...target]);

    expect(result.code).toBe(EXIT_CODES.error);
    expect(result.stderr).toEqual(['error: A client with the id "cli-twice" exists.']);
    expect(result.stdout.join('\n')).not.toContain('Client secret');
  });

  it('fails with one line naming an unknown scope', async () => {
    const result = await run(['create', '--id', 'cli-typo', '--scopes', 'tasks:writer', ...target]);

    expect(result.code).toBe(EXIT_CODES.error);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toContain('"tasks:writer"');
    await expect(store.get('cli-typo')).resolves.toBeUndefined();
  });
});

describe('clients list', () => {
  it('shows every client without secrets or hashes', async () => {
    const created = await run([
      'create',
      '--id',
      'cli-listed',
      '--scopes',
      'audit:read',
      ...target,
    ]);
    const secret = printedSecret(created);

    const result = await run(['list', ...target]);
    const output = result.stdout.join('\n');

    expect(result.code).toBe(EXIT_CODES.ok);
    expect(result.stdout).toContain('cli-listed (active)');
    expect(output).toContain('audit:read');
    expect(output).toContain('CN=billing,O=BLUX | CN=billing-2,O=BLUX');
    expect(output).not.toContain(secret);
    expect(output).not.toContain('scrypt$');
  });

  it('uses the running local gateway from .blux/runtime.json by default', async () => {
    const project = await mkdtemp(join(workDir, 'project-'));
    await mkdir(join(project, '.blux'));
    await writeFile(
      join(project, RUNTIME_FILE),
      JSON.stringify({ dynamoEndpoint: endpoint, stage }),
    );

    const result = await run(['list'], project);

    expect(result.code).toBe(EXIT_CODES.ok);
    expect(result.stdout).toContain('cli-billing (active)');
  });

  it('says how to start the gateway when no runtime file exists', async () => {
    const result = await run(['list'], workDir);

    expect(result.code).toBe(EXIT_CODES.error);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toContain('npm start');
  });

  it('says which table is missing', async () => {
    const result = await run(['list', '--endpoint', endpoint, '--stage', 'nostage']);

    expect(result.code).toBe(EXIT_CODES.error);
    expect(result.stderr).toEqual([
      `error: table blux-nostage-clients in ${endpoint} does not exist`,
    ]);
  });
});

describe('clients rotate and disable', () => {
  it('rotates, printing the new secret once and keeping the old one for the grace', async () => {
    const first = printedSecret(await run(['create', '--id', 'cli-rotating', ...target]));

    const result = await run([
      'rotate',
      '--id',
      'cli-rotating',
      '--grace-seconds',
      '60',
      ...target,
    ]);

    expect(result.code).toBe(EXIT_CODES.ok);
    const second = printedSecret(result);
    expect(second).not.toBe(first);
    expect(result.stdout[0]).toMatch(/the previous one works until \d{4}-\d\d-\d\dT/);
    const stored = await store.get('cli-rotating');
    const inGrace = new Date(Date.now() + 30_000);
    const afterGrace = new Date(Date.now() + 61_000);
    await expect(verifyClientSecret(stored, first, inGrace)).resolves.toBe(true);
    await expect(verifyClientSecret(stored, second, inGrace)).resolves.toBe(true);
    await expect(verifyClientSecret(stored, first, afterGrace)).resolves.toBe(false);
  });

  it('disables a client', async () => {
    await run(['create', '--id', 'cli-leaving', ...target]);

    const result = await run(['disable', '--id', 'cli-leaving', ...target]);
    const listed = await run(['list', ...target]);

    expect(result.code).toBe(EXIT_CODES.ok);
    expect((await store.get('cli-leaving'))?.status).toBe('disabled');
    expect(listed.stdout).toContain('cli-leaving (disabled)');
  });

  it('fails with one line for an unknown id', async () => {
    const rotated = await run(['rotate', '--id', 'cli-ghost', ...target]);
    const disabled = await run(['disable', '--id', 'cli-ghost', ...target]);

    expect([rotated.code, disabled.code]).toEqual([EXIT_CODES.error, EXIT_CODES.error]);
    expect(rotated.stderr).toEqual(['error: No client has the id "cli-ghost".']);
    expect(disabled.stderr).toEqual(['error: No client has the id "cli-ghost".']);
  });
});

describe('clients usage', () => {
  it.each([
    [[]],
    [['launch', ...target]],
    [['create', ...target]],
    [['create', '--id', 'cli-usage', '--bogus', ...target]],
    [['create', '--id', 'cli-usage', '--rate-per-minute', 'many', ...target]],
    [['rotate', '--id', 'cli-usage', '--grace-seconds', '-5', ...target]],
    [['create', '--id', 'cli-usage', 'stray', ...target]],
    [['create', '--id', 'cli-usage', '--endpoint', endpoint]],
    [['list', '--stage', 'qa']],
    [['list', '--region', 'eu-west-1']],
  ])('exits 2 with the usage for %j', async (argv) => {
    const result = await run(argv);

    expect(result.code).toBe(EXIT_CODES.usage);
    expect(result.stderr[0]).toMatch(/^error: /);
    expect(result.stderr.join('\n')).toContain('Usage: npm run clients');
    expect(result.stdout).toEqual([]);
    await expect(store.get('cli-usage')).resolves.toBeUndefined();
  });

  it('prints the usage on --help and exits 0', async () => {
    const result = await run(['create', '--help']);

    expect(result.code).toBe(EXIT_CODES.ok);
    expect(result.stdout.join('\n')).toContain('rotate --id <id> [--grace-seconds N]');
  });

  it('knows the same deployed stages as the CDK app', () => {
    expect([...DEPLOYED_STAGES]).toEqual([...STAGES]);
  });
});

describe('clients audit', () => {
  it('records who created, rotated and disabled a client in the audit trail', async () => {
    await run(['create', '--id', 'audited-client', '--scopes', 'tasks:read', ...target]);
    await run(['rotate', '--id', 'audited-client', ...target]);
    await run(['disable', '--id', 'audited-client', ...target]);
    const audit = new DynamoDbAuditStore(dynamo, physicalTableName(stage, 'audit'));

    const page = await audit.query({
      identity: `operator:${userInfo().username}`,
      limit: 50,
      order: 'asc',
    });

    const about = page.entries.filter((entry) => entry.resource?.id === 'audited-client');
    expect(about.map((entry) => entry.operation)).toEqual([
      'client.create',
      'client.rotate',
      'client.disable',
    ]);
    expect(about.every((entry) => entry.service === 'blux-reg')).toBe(true);
  });
});
