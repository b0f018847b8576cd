/**
 * `npm run clients -- <command>`: registers and manages the gateway's clients.
 *
 * By default it works on the running local gateway, whose DynamoDB endpoint and stage
 * `npm start` writes to `.blux/runtime.json`; `--endpoint` and `--stage` point it at any
 * DynamoDB, and `--stage dev|staging|prod` alone at a deployed stage in AWS, with the default
 * credential chain. A new secret is printed once, when it is made; nothing can show it later.
 *
 * Exit codes: 0 done, 1 failed (one line on stderr), 2 the command line was wrong.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  DynamoDBClient,
  type DynamoDBClientConfig,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import {
  DYNAMODB_CONNECTION_TIMEOUT_MS,
  DYNAMODB_MAX_ATTEMPTS,
  DYNAMODB_REQUEST_TIMEOUT_MS,
} from '@shared/aws/dynamodb';
import { newAuditEntry } from '@shared/audit/audit-ids';
import { DynamoDbAuditStore } from '@shared/audit/dynamodb-audit-store';
import { isStage, STAGES } from '@shared/catalog/stages';
import { physicalTableName } from '@shared/catalog/tables';
import { isGatewayError, ValidationError } from '@shared/errors/gateway-error';
import {
  registerClient,
  rotateClientSecret,
  summarizeClient,
  type ClientRateLimits,
  type ClientRecord,
  type ClientSummary,
  type RotationOptions,
} from '@shared/identity/client-registry';
import { DynamoDbClientStore } from '@shared/identity/dynamodb-client-store';
import { serviceIdentity } from '@shared/identity/identity';
import { formatScopes, parseScopes } from '@shared/identity/scopes';
import { LOCAL_AWS_ENV } from '@local/dynamodb-local';

/** What `runClientsCommand` returns and the process exits with. */
export const EXIT_CODES = { ok: 0, error: 1, usage: 2 } as const;

/**
 * The stages the CDK app deploys: the catalog's `STAGES` under the name this tool exported
 * before the list moved to `shared/catalog/stages.ts`.
 */
export const DEPLOYED_STAGES = STAGES;

/** Where `npm start` says which DynamoDB Local and stage the running gateway uses. */
export const RUNTIME_FILE = join('.blux', 'runtime.json');

const STAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CLIENTS_PAGE_SIZE = 100;

/** Printed on `--help` and, on stderr, after a usage error. */
export const USAGE = `Usage: npm run clients -- <command> [options]

Commands:
  create --id <id> [--scopes "<scope> ..."] [--cert-subject "<DN>"]...
         [--rate-per-minute N] [--rate-per-second N]
  list
  rotate --id <id> [--grace-seconds N]     old secrets stay valid N seconds (default 86400)
  disable --id <id>

Target (default: the running local gateway, from ${RUNTIME_FILE}):
  --endpoint <url> --stage <name>          any DynamoDB, tables of that stage
  --stage dev|staging|prod [--region <r>]  the deployed stage, with your AWS credentials`;

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Where a command writes and what it reads, injected so that tests can run it in-process. */
export interface CommandIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Where `.blux/runtime.json` is looked for. Default: the current directory. */
  readonly cwd?: string;
  /** Read for AWS credentials and region. Default: `process.env`. */
  readonly env?: Environment;
  readonly now?: () => Date;
}

/** The command line is wrong: exit 2 with the usage. */
class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'clients.usage';
}

/** The command line is right but the tool cannot proceed: exit 1. */
class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly code = 'clients.failed';
}

const TARGET_OPTIONS = {
  endpoint: { type: 'string' },
  stage: { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const COMMAND_OPTIONS = {
  create: {
    id: { type: 'string' },
    scopes: { type: 'string' },
    'cert-subject': { type: 'string', multiple: true },
    'rate-per-minute': { type: 'string' },
    'rate-per-second': { type: 'string' },
  },
  list: {},
  rotate: { id: { type: 'string' }, 'grace-seconds': { type: 'string' } },
  disable: { id: { type: 'string' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type CommandName = keyof typeof COMMAND_OPTIONS;

/** Every option any command takes, as `parseArgs` returns them. */
interface OptionValues {
  endpoint?: string;
  stage?: string;
  region?: string;
  help?: boolean;
  id?: string;
  scopes?: string;
  'cert-subject'?: string[];
  'rate-per-minute'?: string;
  'rate-per-second'?: string;
  'grace-seconds'?: string;
}

const isCommand = (word: string | undefined): word is CommandName =>
  word !== undefined && Object.hasOwn(COMMAND_OPTIONS, word);

const parseOptions = (command: CommandName, args: readonly string[]): OptionValues => {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: { ...TARGET_OPTIONS, ...COMMAND_OPTIONS[command] },
      strict: true,
      allowPositionals: false,
    });

    return values as OptionValues;
  } catch (error) {
    // parseArgs reports an unknown or incomplete option as a TypeError with an ERR_PARSE_ARGS code.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
};

const requiredId = (values: OptionValues): string => {
  if (values.id === undefined || values.id === '') {
    throw new UsageError('--id <id> is required');
  }

  return values.id;
};

const wholeNumber = (values: OptionValues, name: keyof OptionValues): number | undefined => {
  const value = values[name];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new UsageError(`--${name} must be a whole number, not "${String(value)}"`);
  }

  return Number(value);
};

// The target

interface Target {
  readonly store: DynamoDbClientStore;
  /** Where the operator's changes are audited: the same stage's audit table. */
  readonly audit: DynamoDbAuditStore;
  /** For messages: which table, where. */
  readonly description: string;
  readonly tableName: string;
  close(): void;
}

interface RuntimeFile {
  readonly dynamoEndpoint: string;
  readonly stage: string;
}

const readRuntimeFile = async (cwd: string): Promise<RuntimeFile> => {
  const path = resolve(cwd, RUNTIME_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CommandError(
      `no running local gateway: ${path} does not exist; start one with \`npm start\`, ` +
        'or give --endpoint and --stage, or --stage dev|staging|prod',
    );
  }
  let parsed: Partial<RuntimeFile> | null;
  try {
    parsed = JSON.parse(text) as Partial<RuntimeFile> | null;
  } catch {
    throw new CommandError(`${path} is not JSON`);
  }
  if (typeof parsed?.dynamoEndpoint !== 'string' || typeof parsed.stage !== 'string') {
    throw new CommandError(`${path} lacks "dynamoEndpoint" and "stage"`);
  }

  return { dynamoEndpoint: parsed.dynamoEndpoint, stage: parsed.stage };
};

const clientConfig = (extra: DynamoDBClientConfig): DynamoDBClientConfig => ({
  maxAttempts: DYNAMODB_MAX_ATTEMPTS,
  requestHandler: {
    connectionTimeout: DYNAMODB_CONNECTION_TIMEOUT_MS,
    requestTimeout: DYNAMODB_REQUEST_TIMEOUT_MS,
  },
  ...extra,
});

/** DynamoDB Local takes any credentials; real ones from the environment win when present. */
const localConfig = (endpoint: string, env: Environment, region?: string): DynamoDBClientConfig =>
  clientConfig({
    endpoint,
    region: region ?? (env.AWS_REGION || LOCAL_AWS_ENV.AWS_REGION),
    ...(env.AWS_ACCESS_KEY_ID === undefined || env.AWS_ACCESS_KEY_ID === ''
      ? {
          credentials: {
            accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
            secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
          },
        }
      : {}),
  });

const checkStage = (stage: string): string => {
  if (!STAGE_PATTERN.test(stage)) {
    throw new UsageError(`--stage must be letters, digits, ".", "_" or "-", not "${stage}"`);
  }

  return stage;
};

const openTarget = async (values: OptionValues, io: CommandIo): Promise<Target> => {
  const env = io.env ?? process.env;
  let config: DynamoDBClientConfig;
  let stage: string;
  let where: string;

  if (values.endpoint !== undefined) {
    if (values.stage === undefined) {
      throw new UsageError('--endpoint needs --stage <name> to know which tables to use');
    }
    stage = checkStage(values.stage);
    config = localConfig(values.endpoint, env, values.region);
    where = values.endpoint;
  } else if (values.stage !== undefined) {
    if (!isStage(values.stage)) {
      throw new UsageError(
        `--stage without --endpoint must be one of ${STAGES.join(', ')}, ` +
          `not "${values.stage}"`,
      );
    }
    stage = values.stage;
    // Region and credentials come from the default chain unless --region says otherwise.
    config = clientConfig(values.region === undefined ? {} : { region: values.region });
    where = `AWS${values.region === undefined ? '' : ` ${values.region}`}`;
  } else {
    if (values.region !== undefined) {
      throw new UsageError('--region needs --stage dev|staging|prod');
    }
    const runtime = await readRuntimeFile(io.cwd ?? process.cwd());
    stage = runtime.stage;
    config = localConfig(runtime.dynamoEndpoint, {});
    where = `the local gateway's DynamoDB at ${runtime.dynamoEndpoint}`;
  }

  const client = new DynamoDBClient(config);
  const tableName = physicalTableName(stage, 'clients');

  return {
    store: new DynamoDbClientStore(client, tableName),
    audit: new DynamoDbAuditStore(client, physicalTableName(stage, 'audit')),
    description: `table ${tableName} in ${where}`,
    tableName,
    close: () => client.destroy(),
  };
};

// Output

const printSecret = (io: CommandIo, secret: string): void => {
  io.stdout(`Client secret: ${secret}`);
  io.stdout('Store it now: this secret is not kept and cannot be shown again.');
};

const describeRateLimits = (limits: ClientRateLimits | undefined): string => {
  const parts = [
    ...(limits?.perMinute === undefined ? [] : [`${limits.perMinute}/min`]),
    ...(limits?.perSecond === undefined ? [] : [`${limits.perSecond}/s`]),
  ];

  return parts.length === 0 ? 'defaults' : parts.join(', ');
};

const describeSecrets = (summary: ClientSummary): string => {
  const expiries = summary.secrets.flatMap((secret) =>
    secret.expiresAt === undefined ? [] : [`one expires ${secret.expiresAt}`],
  );

  return [`${summary.secrets.length} valid`, ...expiries].join('; ');
};

const printClient = (io: CommandIo, summary: ClientSummary): void => {
  io.stdout(`${summary.clientId} (${summary.status})`);
  io.stdout(`  scopes:       ${formatScopes(summary.scopes) || '(none)'}`);
  io.stdout(`  secrets:      ${describeSecrets(summary)}`);
  io.stdout(`  certificates: ${summary.certificateSubjects.join(' | ') || '(none)'}`);
  io.stdout(`  rate limits:  ${describeRateLimits(summary.rateLimits)}`);
  io.stdout(`  created:      ${summary.createdAt}, updated ${summary.updatedAt}`);
};

// Audit

/**
 * The put of the audit entry for an operator's change of a client, which the client store
 * writes in the change's own transaction: the change is written with its entry or not at all.
 */
const auditChange = (
  target: Target,
  operation: 'client.create' | 'client.rotate' | 'client.disable',
  clientId: string,
  now: Date,
): TransactWriteItem[] => [
  target.audit.putItem(
    newAuditEntry(
      {
        service: 'blux-reg',
        operation,
        identity: `operator:${userInfo().username}`,
        outcome: 'success',
        requestId: `cli-${randomUUID()}`,
        resource: { type: 'client', id: clientId },
      },
      now,
    ),
  ),
];

// Commands

const create = async (
  values: OptionValues,
  target: Target,
  io: CommandIo,
  now: Date,
): Promise<void> => {
  const clientId = requiredId(values);
  const perMinute = wholeNumber(values, 'rate-per-minute');
  const perSecond = wholeNumber(values, 'rate-per-second');
  const scopes = parseScopes(values.scopes);
  // The entry is made once the registry has checked the input, as before the two were one.
  const store = {
    create: (created: ClientRecord) =>
      target.store.create(created, auditChange(target, 'client.create', created.clientId, now)),
  };

  const { record, secret } = await registerClient(
    store,
    {
      clientId,
      scopes,
      certificateSubjects: values['cert-subject'] ?? [],
      rateLimits: { perMinute, perSecond },
    },
    { now },
  );

  io.stdout(`Created client ${record.clientId}, calling as ${serviceIdentity(record.clientId)}.`);
  io.stdout(`Scopes: ${formatScopes(record.scopes) || '(none: give --scopes to allow anything)'}`);
  printSecret(io, secret);
};

const list = async (target: Target, io: CommandIo, now: Date): Promise<void> => {
  const clients: ClientSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await target.store.list({ limit: CLIENTS_PAGE_SIZE, cursor });
    clients.push(...page.clients.map((record) => summarizeClient(record, now)));
    cursor = page.cursor;
  } while (cursor !== undefined);

  if (clients.length === 0) {
    io.stdout(`No clients in ${target.description}.`);
  }
  clients
    .sort((a, b) => a.clientId.localeCompare(b.clientId))
    .forEach((summary) => printClient(io, summary));
};

const rotate = async (
  values: OptionValues,
  target: Target,
  io: CommandIo,
  now: Date,
): Promise<void> => {
  const clientId = requiredId(values);
  const graceSeconds = wholeNumber(values, 'grace-seconds');
  const store = {
    rotateSecret: (id: string, hash: string, options: RotationOptions) =>
      target.store.rotateSecret(id, hash, options, auditChange(target, 'client.rotate', id, now)),
  };

  const { record, secret } = await rotateClientSecret(store, clientId, {
    now,
    ...(graceSeconds === undefined ? {} : { graceSeconds }),
  });

  const previous = record.secrets[1]?.expiresAt;
  io.stdout(
    previous === undefined
      ? `Rotated the secret of ${clientId}; earlier secrets no longer work.`
      : `Rotated the secret of ${clientId}; the previous one works until ${previous}.`,
  );
  printSecret(io, secret);
};

const disable = async (
  values: OptionValues,
  target: Target,
  io: CommandIo,
  now: Date,
): Promise<void> => {
  const clientId = requiredId(values);

  await target.store.disable(clientId, now, auditChange(target, 'client.disable', clientId, now));

  io.stdout(`Disabled client ${clientId}: its secrets and certificates no longer authenticate.`);
};

const run = async (
  command: CommandName,
  values: OptionValues,
  target: Target,
  io: CommandIo,
): Promise<void> => {
  const now = io.now?.() ?? new Date();
  switch (command) {
    case 'create':
      return create(values, target, io, now);
    case 'list':
      return list(target, io, now);
    case 'rotate':
      return rotate(values, target, io, now);
    case 'disable':
      return disable(values, target, io, now);
  }
};

/** One line saying what went wrong, in the operator's terms; never a secret or a hash. */
const describeFailure = (error: unknown, target: Target | undefined): string => {
  if (error instanceof ValidationError) {
    const fields = (error.details.fields ?? []) as readonly { field: string; message: string }[];

    return [error.message, ...fields.map((issue) => `${issue.field} ${issue.message}`)].join(' ');
  }
  if (error instanceof Error && error.name === 'ResourceNotFoundException' && target) {
    return `${target.description} does not exist`;
  }
  if (isGatewayError(error) && error.code === 'SERVICE_UNAVAILABLE' && target) {
    return `cannot reach ${target.description}`;
  }
  const message = error instanceof Error ? error.message : String(error);

  return message.replace(/\s+/g, ' ').trim();
};

/**
 * Runs one `clients` command line (without `node` and the script) and returns its exit code.
 * Output goes through `io`, so tests can read it.
 */
export const runClientsCommand = async (
  argv: readonly string[],
  io: CommandIo,
): Promise<number> => {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout(USAGE);

    return EXIT_CODES.ok;
  }
  let target: Target | undefined;

  try {
    if (!isCommand(command)) {
      throw new UsageError(
        command === undefined ? 'a command is required' : `unknown command "${command}"`,
      );
    }
    const values = parseOptions(command, rest);
    if (values.help === true) {
      io.stdout(USAGE);

      return EXIT_CODES.ok;
    }
    target = await openTarget(values, io);
    await run(command, values, target, io);

    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`error: ${error.message}`);
      io.stderr(USAGE);

      return EXIT_CODES.usage;
    }
    io.stderr(`error: ${describeFailure(error, target)}`);

    return EXIT_CODES.error;
  } finally {
    target?.close();
  }
};

const invokedDirectly =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);

if (invokedDirectly) {
  process.exitCode = await runClientsCommand(process.argv.slice(2), {
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
  });
}
