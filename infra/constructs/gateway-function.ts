/**
 * A gateway Lambda function the way every route and every stream consumer needs one: a handler
 * module bundled to ESM for arm64, its own log group and role, every table's name in its
 * environment and exactly the table access it declares, nothing more.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TABLE_ACCESS_LEVELS, type TableAccess } from '@shared/catalog/routes';
import type { TableId } from '@shared/catalog/tables';
import { InfraConfigError } from '@infra/infra-error';
import { STAGE_CONFIG, type LogLevel, type Stage } from '@infra/stage-config';
import type { GatewayTables } from './gateway-tables';

/**
 * Node.js 24, the newest runtime this aws-cdk-lib knows. cdk-nag's AwsSolutions-L1 asks for
 * the newest of the family, it is an LTS line with the longest support ahead of it, and it
 * runs ESM handlers natively. Handlers must still run on the Node 20 of the local runtime, so
 * they may not lean on anything newer than Node 20 offers.
 */
export const GATEWAY_FUNCTION_RUNTIME = Runtime.NODEJS_24_X;

/** The repository root: handler paths in the catalog are relative to it. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const POWERTOOLS_SERVICE_NAME = 'blux-gateway';

const LAMBDA_MIN_MEMORY_MB = 128;
const LAMBDA_MAX_MEMORY_MB = 10_240;
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * esbuild rewrites a bundled CommonJS dependency's `require` into a call on a global `require`,
 * which an ES module does not have. The banner gives the bundle one, under an alias so it
 * cannot collide with a `createRequire` import in the bundled code itself.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as bluxCreateRequire } from 'node:module';" +
  'const require = bluxCreateRequire(import.meta.url);';

/** Props of `GatewayFunction`; every optional one falls back to the stage's config. */
export interface GatewayFunctionProps {
  /** Handler module relative to `projectRoot`, such as `functions/get-health.ts`. */
  readonly handler: string;
  /** The function's name in AWS: 1 to 64 letters, digits, `-` or `_`. */
  readonly functionName: string;
  /**
   * What the function is for, shown in the console.
   *
   * @default - no description
   */
  readonly description?: string;
  /** The stage it runs in, given to the handler as `BLUX_STAGE`. */
  readonly stage: Stage;
  /** The gateway's tables: their names go into the environment, and access is granted here. */
  readonly tables: GatewayTables;
  /**
   * The access the handler needs to each table; any table not listed gets no permission.
   *
   * @default - no table access
   */
  readonly tableAccess?: Readonly<Partial<Record<TableId, TableAccess>>>;
  /**
   * Memory in MB, 128 to 10240; Lambda gives CPU in proportion.
   *
   * @default - the stage's `memorySizeMb`
   */
  readonly memorySizeMb?: number;
  /**
   * How long an invocation may run, 1 s to 15 min.
   *
   * @default - the stage's `functionTimeoutSeconds`
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   *
   * @default - the stage's `logRetention`
   */
  readonly logRetention?: RetentionDays;
  /**
   * What `cdk destroy` does to the log group.
   *
   * @default - the stage's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Active X-Ray tracing.
   *
   * @default - the stage's `tracing`
   */
  readonly tracing?: boolean;
  /**
   * The shared logger's level, given as `LOG_LEVEL`.
   *
   * @default - the stage's `logLevel`
   */
  readonly logLevel?: LogLevel;
  /**
   * The folder `handler` is relative to, holding `package-lock.json` and `tsconfig.json`.
   *
   * @default REPOSITORY_ROOT
   */
  readonly projectRoot?: string;
}

/**
 * The settings every kind of gateway function (a route's, a stream consumer's) passes through
 * to `GatewayFunction` unchanged, each defaulting to the stage's config.
 */
export type GatewayFunctionSettings = Pick<
  GatewayFunctionProps,
  | 'stage'
  | 'tables'
  | 'timeout'
  | 'memorySizeMb'
  | 'logRetention'
  | 'removalPolicy'
  | 'tracing'
  | 'logLevel'
  | 'projectRoot'
>;

/**
 * The settings a construct hands on to each `GatewayFunction` it makes as it got them; left
 * out, each falls back to the stage's config there.
 */
export const passThroughSettings = (
  settings: Omit<GatewayFunctionSettings, 'stage' | 'tables' | 'timeout'>,
): Omit<GatewayFunctionSettings, 'stage' | 'tables' | 'timeout'> => ({
  memorySizeMb: settings.memorySizeMb,
  logRetention: settings.logRetention,
  removalPolicy: settings.removalPolicy,
  tracing: settings.tracing,
  logLevel: settings.logLevel,
  projectRoot: settings.projectRoot,
});

/** One bundled handler with its own role and log group; see the file comment for the rules. */
export class GatewayFunction extends Construct {
  readonly function: NodejsFunction;
  /** The function's own role; it starts with the log permissions and nothing else. */
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    super(scope, id);

    const stageConfig = STAGE_CONFIG[props.stage];
    const projectRoot = props.projectRoot ?? REPOSITORY_ROOT;
    const memorySizeMb = props.memorySizeMb ?? stageConfig.memorySizeMb;
    const timeout = props.timeout ?? Duration.seconds(stageConfig.functionTimeoutSeconds);
    const tracing = props.tracing ?? stageConfig.tracing;
    const tableAccess = Object.entries(props.tableAccess ?? {}) as [TableId, TableAccess][];
    assertValidFunction(props, { projectRoot, memorySizeMb, timeout, tableAccess });

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? stageConfig.logRetention,
      removalPolicy: props.removalPolicy ?? stageConfig.removalPolicy,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.functionName}: its own log group and its declared tables.`,
    });
    // Two log actions on this function's log group, instead of the AWSLambdaBasicExecutionRole
    // managed policy, which would let the function write into every log group of the account.
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(projectRoot, props.handler),
      handler: 'handler',
      functionName: props.functionName,
      description: props.description,
      runtime: GATEWAY_FUNCTION_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: memorySizeMb,
      timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        ...props.tables.environmentVariables(),
        BLUX_STAGE: props.stage,
        LOG_LEVEL: props.logLevel ?? stageConfig.logLevel,
        POWERTOOLS_SERVICE_NAME,
        // Stack traces then name the TypeScript source line, not a column of the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
      },
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        banner: ESM_REQUIRE_BANNER,
        // Prefer a dependency's ES build, which esbuild can tree-shake.
        mainFields: ['module', 'main'],
        // The SDK in the runtime changes under us; the bundled one is the version we tested.
        bundleAwsSDK: true,
        minify: true,
        sourceMap: true,
        // File and line are enough to read a trace; the sources themselves would double the zip.
        sourcesContent: false,
        tsconfig: join(projectRoot, 'tsconfig.json'),
      },
    });

    for (const [tableId, access] of tableAccess) {
      props.tables.grantAccess(this.role, tableId, access);
    }
    if (tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which ' +
          'support no resource-level permissions; X-Ray accepts only Resource "*" for them.',
      });
    }
  }
}

interface ResolvedSettings {
  readonly projectRoot: string;
  readonly memorySizeMb: number;
  readonly timeout: Duration;
  readonly tableAccess: readonly [TableId, TableAccess][];
}

const assertValidFunction = (props: GatewayFunctionProps, settings: ResolvedSettings): void => {
  assertValidEntry(props.functionName, props.handler, settings.projectRoot);
  assertValidSizing(props.functionName, settings.memorySizeMb, settings.timeout);
  assertValidTableAccess(props.functionName, props.tables, settings.tableAccess);
};

const assertValidEntry = (functionName: string, handler: string, projectRoot: string): void => {
  if (!FUNCTION_NAME_PATTERN.test(functionName)) {
    throw new InfraConfigError(
      'gatewayFunction.invalidName',
      `function name ${JSON.stringify(functionName)} is not 1-64 of [A-Za-z0-9_-]`,
      { functionName },
    );
  }
  // NodejsFunction would fail too, but deep in bundling and without naming the catalog entry.
  if (!existsSync(join(projectRoot, handler))) {
    throw new InfraConfigError(
      'gatewayFunction.handlerNotFound',
      `handler ${handler} of ${functionName} does not exist under ${projectRoot}`,
      { functionName, handler },
    );
  }
};

const assertValidSizing = (functionName: string, memorySizeMb: number, timeout: Duration): void => {
  const inMemoryRange =
    memorySizeMb >= LAMBDA_MIN_MEMORY_MB && memorySizeMb <= LAMBDA_MAX_MEMORY_MB;
  if (!Number.isInteger(memorySizeMb) || !inMemoryRange) {
    throw new InfraConfigError(
      'gatewayFunction.memoryOutOfRange',
      `memory ${memorySizeMb} MB of ${functionName} is outside ` +
        `${LAMBDA_MIN_MEMORY_MB}-${LAMBDA_MAX_MEMORY_MB} MB`,
      { functionName, memorySizeMb },
    );
  }
  const timeoutSeconds = timeout.toSeconds();
  if (timeoutSeconds < 1 || timeoutSeconds > LAMBDA_MAX_TIMEOUT_SECONDS) {
    throw new InfraConfigError(
      'gatewayFunction.timeoutOutOfRange',
      `timeout ${timeoutSeconds} s of ${functionName} is outside 1-${LAMBDA_MAX_TIMEOUT_SECONDS} s`,
      { functionName, timeoutSeconds },
    );
  }
};

const assertValidTableAccess = (
  functionName: string,
  tables: GatewayTables,
  tableAccess: readonly [TableId, TableAccess][],
): void => {
  for (const [tableId, access] of tableAccess) {
    if (!tables.tableIds.includes(tableId)) {
      throw new InfraConfigError(
        'gatewayFunction.unknownTable',
        `${functionName} declares access to table ${tableId}, which does not exist`,
        { functionName, tableId },
      );
    }
    if (!TABLE_ACCESS_LEVELS.includes(access)) {
      throw new InfraConfigError(
        'gatewayFunction.invalidTableAccess',
        `${functionName} asks for ${JSON.stringify(access)} on ${tableId}; ` +
          `use one of ${TABLE_ACCESS_LEVELS.join(', ')}`,
        { functionName, tableId, access },
      );
    }
  }
};
