import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { findRoute, ROUTES, routeKey, type RouteDeclaration } from '@shared/catalog/routes';
import { SCHEDULES } from '@shared/catalog/schedules';
import { STREAM_CONSUMERS, type StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { STREAMING_ROUTES } from '@shared/catalog/streaming-routes';
import { WEBSOCKET_ROUTES } from '@shared/catalog/websocket-routes';
import {
  physicalTableName,
  TABLE_IDS,
  TABLES,
  type TableDeclaration,
} from '@shared/catalog/tables';
import { ESM_REQUIRE_BANNER } from '@infra/constructs/gateway-function';
import { GatewayTables } from '@infra/constructs/gateway-tables';
import { ACCESS_LOG_FIELDS, GatewayHttpApi } from '@infra/constructs/http-api';
import { RouteFunction } from '@infra/constructs/route-function';
import { StreamConsumerFunction } from '@infra/constructs/stream-consumer-function';
import { GatewayStack } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import {
  API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
  resolveStage,
  STAGE_CONFIG,
  STAGES,
  type Stage,
} from '@infra/stage-config';
import {
  actionsOf,
  functionOf,
  onResource,
  refusalCode,
  singleResource,
  statementsOf,
  type PolicyStatement,
} from '@test/unit/infra/template-queries';

/**
 * A consumer the catalog does not declare yet. Its handler is an existing route module: these
 * tests read the template, not what the bundled code does.
 */
const TEST_CONSUMER: StreamConsumerDeclaration = {
  id: 'taskEvents',
  table: 'tasks',
  handler: 'functions/not-found.ts',
  batchSize: 25,
  maxBatchingWindowSeconds: 5,
  retryAttempts: 3,
  bisectBatchOnError: true,
  reportBatchItemFailures: true,
  startingPosition: 'TRIM_HORIZON',
  tables: { audit: 'write' },
};

const WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

interface Synthesized {
  readonly app: App;
  readonly template: Template;
}

// Bundling runs esbuild per function, so each stage is built once for the whole file, and
// only dev bundles: the bundle checks read dev's assets, the rest reads templates, and three
// stages of some twenty bundles each outran the hook on two cores. Dev carries the test
// consumer; staging and prod are exactly what the catalog declares.
const synthesized = {} as Record<Stage, Synthesized>;
const SYNTH_TIMEOUT_MS = 180_000;
const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';

beforeAll(() => {
  for (const stage of STAGES) {
    const app = new App(stage === 'dev' ? {} : { context: { [BUNDLING_STACKS]: [] } });
    const stack = new GatewayStack(app, `Test-${stage}`, {
      stage,
      streamConsumers: stage === 'dev' ? [...STREAM_CONSUMERS, TEST_CONSUMER] : undefined,
    });
    synthesized[stage] = { app, template: Template.fromStack(stack) };
  }
}, SYNTH_TIMEOUT_MS);

const templateOf = (stage: Stage): Template => synthesized[stage].template;

const tableLogicalId = (template: Template, stage: Stage, id: keyof typeof TABLES): string =>
  singleResource(template, 'AWS::DynamoDB::Table', { TableName: physicalTableName(stage, id) })[0];

/** A stack with only the tables, for constructs that refuse before they bundle anything. */
const tablesOnly = (stage: Stage = 'dev'): { stack: Stack; tables: GatewayTables } => {
  const stack = new Stack(new App(), 'Refusals');

  return { stack, tables: new GatewayTables(stack, 'Tables', { stage }) };
};

const HEALTH_FUNCTION = gatewayFunctionName('dev', 'getHealth');
const NOT_FOUND_FUNCTION = gatewayFunctionName('dev', 'notFound');

describe('GatewayStack tables', () => {
  it.each(TABLE_IDS)('GIVEN the catalog WHEN dev synthesizes THEN table %s has its keys', (id) => {
    const declaration: TableDeclaration = TABLES[id];
    const keySchema = [{ AttributeName: declaration.partitionKey.name, KeyType: 'HASH' }];
    if (declaration.sortKey !== undefined) {
      keySchema.push({ AttributeName: declaration.sortKey.name, KeyType: 'RANGE' });
    }

    templateOf('dev').hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: physicalTableName('dev', id),
      KeySchema: keySchema,
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification:
        declaration.ttlAttribute === undefined
          ? Match.absent()
          : { AttributeName: declaration.ttlAttribute, Enabled: true },
      StreamSpecification:
        declaration.stream === undefined ? Match.absent() : { StreamViewType: declaration.stream },
    });
  });

  it('GIVEN any stage WHEN it synthesizes THEN every table has PITR and AWS managed KMS', () => {
    for (const stage of STAGES) {
      const tables = templateOf(stage).findResources('AWS::DynamoDB::Table', {
        Properties: {
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          // SSEEnabled without a key id is KMS with the AWS managed key, aws/dynamodb.
          SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
        },
      });

      expect(Object.keys(tables), stage).toHaveLength(TABLE_IDS.length);
    }
  });

  it('GIVEN the client registry WHEN any stage synthesizes THEN its table is encrypted', () => {
    // The clients table holds secret hashes and certificate subjects: it must never lose this.
    for (const stage of STAGES) {
      const [, clients] = singleResource(templateOf(stage), 'AWS::DynamoDB::Table', {
        TableName: physicalTableName(stage, 'clients'),
      });

      expect(clients.Properties.SSESpecification, stage).toEqual({ SSEEnabled: true });
    }
  });

  it('GIVEN the three stages WHEN they synthesize THEN prod and audit tables are protected', () => {
    for (const stage of STAGES) {
      const protectedTables = templateOf(stage).findResources('AWS::DynamoDB::Table', {
        Properties: { DeletionProtectionEnabled: true },
      });
      const names = Object.values(protectedTables).map((table) => table.Properties.TableName);
      const expected = stage === 'prod' ? TABLE_IDS : (['audit', 'auditCheckpoints'] as const);

      expect(names.sort(), stage).toEqual(
        expected.map((id) => physicalTableName(stage, id)).sort(),
      );
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN only retainAlways tables survive a destroy', () => {
    const template = templateOf('dev');

    for (const id of TABLE_IDS) {
      const declaration: TableDeclaration = TABLES[id];
      const resource = template.toJSON().Resources[tableLogicalId(template, 'dev', id)];

      expect(resource.DeletionPolicy, id).toBe(declaration.retainAlways ? 'Retain' : 'Delete');
    }
  });

  it('GIVEN staging and prod WHEN they synthesize THEN every table is retained', () => {
    for (const stage of ['staging', 'prod'] as const) {
      const tables = templateOf(stage).findResources('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
      });

      expect(Object.keys(tables), stage).toHaveLength(TABLE_IDS.length);
    }
  });

  it('GIVEN a declaration with a global index WHEN the tables build THEN the index exists', () => {
    const stack = new Stack(new App(), 'Indexed');
    new GatewayTables(stack, 'Tables', {
      stage: 'dev',
      declarations: {
        ...TABLES,
        clients: {
          ...TABLES.clients,
          globalIndexes: [{ name: 'by-owner', partitionKey: { name: 'owner', type: 'S' } }],
        },
      },
    });

    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: physicalTableName('dev', 'clients'),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-owner',
          KeySchema: [{ AttributeName: 'owner', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });
});

describe('GatewayStack route functions', () => {
  it('GIVEN the catalog WHEN prod synthesizes THEN there is one function per route', () => {
    const template = templateOf('prod');
    for (const route of ROUTES) {
      functionOf(template, gatewayFunctionName('prod', route.id));
    }

    // The stream consumers, the schedules and the streaming routes have functions of their
    // own, and so does the WebSocket API: its authorizer and one per handler module. Nothing
    // else does.
    const websocketFunctions = 1 + new Set(WEBSOCKET_ROUTES.map((route) => route.handler)).size;
    template.resourceCountIs(
      'AWS::Lambda::Function',
      ROUTES.length +
        STREAMING_ROUTES.length +
        STREAM_CONSUMERS.length +
        SCHEDULES.length +
        websocketFunctions,
    );
  });

  it.each(ROUTES.map((route) => [route.id, route] as const))(
    'GIVEN route %s WHEN dev synthesizes THEN it runs ESM on arm64 and Node 22 or later',
    (_id, route) => {
      const properties = functionOf(templateOf('dev'), gatewayFunctionName('dev', route.id));
      const runtimeMajor = Number(/^nodejs(\d+)\.x$/.exec(String(properties.Runtime))?.[1]);
      const assetHash = String((properties.Code as { S3Key: string }).S3Key).replace('.zip', '');
      const bundle = readFileSync(
        join(synthesized.dev.app.outdir, `asset.${assetHash}`, 'index.mjs'),
        'utf8',
      );

      expect(properties.Architectures).toEqual(['arm64']);
      expect(runtimeMajor).toBeGreaterThanOrEqual(22);
      expect(properties.Handler).toBe('index.handler');
      expect(bundle.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    },
  );

  it('GIVEN dev WHEN it synthesizes THEN each function gets table names, stage and logging', () => {
    const tableVariables = Object.fromEntries(
      TABLE_IDS.map((id) => [TABLES[id].envVar, physicalTableName('dev', id)]),
    );

    for (const route of ROUTES) {
      expect(functionOf(templateOf('dev'), gatewayFunctionName('dev', route.id))).toMatchObject({
        Environment: {
          Variables: {
            ...tableVariables,
            BLUX_STAGE: 'dev',
            LOG_LEVEL: STAGE_CONFIG.dev.logLevel,
            POWERTOOLS_SERVICE_NAME: 'blux-gateway',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN route timeouts stay below API Gateway', () => {
    for (const stage of STAGES) {
      for (const route of ROUTES) {
        const properties = functionOf(templateOf(stage), gatewayFunctionName(stage, route.id));

        expect(properties.Timeout).toBe(STAGE_CONFIG[stage].functionTimeoutSeconds);
        expect(properties.Timeout).toBeLessThan(API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS);
      }
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN each function logs to its own log group', () => {
    for (const stage of STAGES) {
      const template = templateOf(stage);
      const logGroups = new Set<string>();
      for (const route of ROUTES) {
        const properties = functionOf(template, gatewayFunctionName(stage, route.id));
        const logGroupId = (properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
        logGroups.add(logGroupId);

        expect(template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(
          STAGE_CONFIG[stage].logRetention,
        );
      }

      expect(logGroups.size).toBe(ROUTES.length);
    }
  });

  it('GIVEN dev and prod WHEN they synthesize THEN only the tracing stage traces', () => {
    for (const stage of ['dev', 'prod'] as const) {
      const tracing = functionOf(
        templateOf(stage),
        gatewayFunctionName(stage, 'getHealth'),
      ).TracingConfig;

      expect(tracing, stage).toEqual(STAGE_CONFIG[stage].tracing ? { Mode: 'Active' } : undefined);
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN no role carries a managed policy', () => {
    for (const stage of STAGES) {
      const withManaged = templateOf(stage).findResources('AWS::IAM::Role', {
        Properties: { ManagedPolicyArns: Match.anyValue() },
      });

      expect(Object.keys(withManaged), stage).toEqual([]);
    }
  });
});

describe('GatewayStack least privilege', () => {
  it('GIVEN the health route WHEN dev synthesizes THEN it reads its tables, writes none', () => {
    const template = templateOf('dev');
    const statements = statementsOf(template, HEALTH_FUNCTION);
    const declared: Readonly<Partial<Record<string, unknown>>> = findRoute('getHealth').tables;

    expect(Object.keys(declared).length).toBeGreaterThan(0);
    for (const id of TABLE_IDS) {
      const tableId = tableLogicalId(template, 'dev', id);
      const onTable = statements.filter((statement) => onResource(statement, tableId));

      if (declared[id] === undefined) {
        expect(onTable, id).toEqual([]);
      } else {
        expect(onTable.flatMap(actionsOf), id).toContain('dynamodb:GetItem');
      }
    }
    for (const action of WRITE_ACTIONS) {
      expect(statements.flatMap(actionsOf)).not.toContain(action);
    }
  });

  it('GIVEN a route with no tables WHEN dev synthesizes THEN it has no DynamoDB permission', () => {
    const actions = statementsOf(templateOf('dev'), NOT_FOUND_FUNCTION).flatMap(actionsOf);

    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((action) => action.startsWith('dynamodb:'))).toEqual([]);
  });

  it('GIVEN any stage WHEN it synthesizes THEN only X-Ray, ListStreams and CloudWatch reads get Resource *', () => {
    // The cdk-nag acknowledgment of IAM5[Resource::*] would hide any other wildcard; this won't.
    // The CloudWatch reads are the metrics route's alone (test/unit/infra/observability.test.ts).
    const allowedOnAnyResource = [
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'dynamodb:ListStreams',
      'cloudwatch:GetMetricData',
      'cloudwatch:ListMetrics',
    ];

    for (const stage of STAGES) {
      const policies = Object.values(templateOf(stage).findResources('AWS::IAM::Policy'));
      const statements = policies.flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[],
      );
      const onAnyResource = statements.filter((statement) =>
        [statement.Resource].flat().includes('*'),
      );

      // Prod traces, so it has X-Ray's statements: the loop below is never empty everywhere.
      if (STAGE_CONFIG[stage].tracing) {
        expect(onAnyResource.length, stage).toBeGreaterThan(0);
      }
      for (const statement of onAnyResource) {
        expect(allowedOnAnyResource, stage).toEqual(expect.arrayContaining(actionsOf(statement)));
      }
    }
  });
});

describe('GatewayStack HTTP API', () => {
  it.each(ROUTES.map((route) => [routeKey(route), route] as const))(
    'GIVEN catalog route %s WHEN dev synthesizes THEN a Lambda proxy route serves it',
    (key, route) => {
      const template = templateOf('dev');
      const functionId = singleResource(template, 'AWS::Lambda::Function', {
        FunctionName: gatewayFunctionName('dev', route.id),
      })[0];
      const [integrationId] = singleResource(template, 'AWS::ApiGatewayV2::Integration', {
        IntegrationUri: { 'Fn::GetAtt': [functionId, 'Arn'] },
      });

      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationUri: { 'Fn::GetAtt': [functionId, 'Arn'] },
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: key,
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
      });
    },
  );

  it('GIVEN the catalog WHEN dev synthesizes THEN the API has exactly its routes', () => {
    const template = templateOf('dev');
    const [httpApi] = Object.keys(
      template.findResources('AWS::ApiGatewayV2::Api', { Properties: { ProtocolType: 'HTTP' } }),
    );
    // The WebSocket API's routes are another API's; its own test covers them.
    const routes = Object.values(
      template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { ApiId: { Ref: httpApi } },
      }),
    );

    expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual(
      ROUTES.map(routeKey).sort(),
    );
    expect(routes.map((route) => route.Properties.RouteKey)).toContain('$default');
  });

  it('GIVEN dev WHEN it synthesizes THEN the $default stage logs each request as JSON', () => {
    const template = templateOf('dev');
    const [, stage] = singleResource(template, 'AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
    });
    const settings = stage.Properties.AccessLogSettings as {
      DestinationArn: { 'Fn::GetAtt': [string, string] };
      Format: string;
    };
    const destination = template.toJSON().Resources[settings.DestinationArn['Fn::GetAtt'][0]];
    const format = JSON.parse(settings.Format) as Record<string, string>;

    expect(destination.Type).toBe('AWS::Logs::LogGroup');
    expect(destination.Properties.RetentionInDays).toBe(STAGE_CONFIG.dev.logRetention);
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(Object.keys(format)).toEqual(
      expect.arrayContaining([
        'requestId',
        'ip',
        'requestTime',
        'httpMethod',
        'routeKey',
        'path',
        'status',
        'protocol',
        'responseLength',
        'integrationLatency',
        'latency',
        'errorMessage',
      ]),
    );
  });

  it('GIVEN each stage WHEN it synthesizes THEN the stage throttle comes from its config', () => {
    for (const stage of STAGES) {
      const { rateLimitPerSecond, burstLimit } = STAGE_CONFIG[stage].throttle;

      templateOf(stage).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: {
          ThrottlingRateLimit: rateLimitPerSecond,
          ThrottlingBurstLimit: burstLimit,
        },
      });
    }
  });

  it('GIVEN prod WHEN it synthesizes THEN the stack outputs the API URL', () => {
    const [apiId] = singleResource(templateOf('prod'), 'AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
    });

    templateOf('prod').hasOutput('ApiUrl', {
      Value: { 'Fn::Join': ['', Match.arrayWith(['https://', { Ref: apiId }])] },
    });
  });
});

describe('GatewayStack stream consumers', () => {
  it('GIVEN a consumer in props WHEN dev synthesizes THEN its mapping has its settings', () => {
    const template = templateOf('dev');

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [tableLogicalId(template, 'dev', 'tasks'), 'StreamArn'] },
      FunctionName: {
        Ref: singleResource(template, 'AWS::Lambda::Function', {
          FunctionName: gatewayFunctionName('dev', TEST_CONSUMER.id),
        })[0],
      },
      BatchSize: TEST_CONSUMER.batchSize,
      MaximumBatchingWindowInSeconds: TEST_CONSUMER.maxBatchingWindowSeconds,
      MaximumRetryAttempts: TEST_CONSUMER.retryAttempts,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      StartingPosition: 'TRIM_HORIZON',
    });
  });

  it('GIVEN a consumer WHEN dev synthesizes THEN failures go to an encrypted TLS queue', () => {
    const template = templateOf('dev');
    const [functionId] = singleResource(template, 'AWS::Lambda::Function', {
      FunctionName: gatewayFunctionName('dev', TEST_CONSUMER.id),
    });
    const [, mapping] = singleResource(template, 'AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId },
    });
    const destination = (
      mapping.Properties.DestinationConfig as {
        OnFailure: { Destination: { 'Fn::GetAtt': [string, string] } };
      }
    ).OnFailure.Destination['Fn::GetAtt'];
    const queue = template.toJSON().Resources[destination[0]];

    expect(destination[1]).toBe('Arn');
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: destination[0] }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('GIVEN a consumer writing audit WHEN dev synthesizes THEN it gets that and its stream', () => {
    const template = templateOf('dev');
    const statements = statementsOf(template, gatewayFunctionName('dev', TEST_CONSUMER.id));
    const auditId = tableLogicalId(template, 'dev', 'audit');
    const tasksId = tableLogicalId(template, 'dev', 'tasks');
    const onAudit = statements.filter((statement) => onResource(statement, auditId));
    const onTasks = statements.filter((statement) => onResource(statement, tasksId));

    expect(onAudit.flatMap(actionsOf)).toContain('dynamodb:PutItem');
    expect(onAudit.flatMap(actionsOf)).not.toContain('dynamodb:GetItem');
    // On the table it consumes, only the stream: no item reads or writes of its own.
    expect(onTasks.flatMap(actionsOf).sort()).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
    ]);
  });

  it('GIVEN the catalog WHEN prod synthesizes THEN it maps exactly the declared consumers', () => {
    templateOf('prod').resourceCountIs('AWS::Lambda::EventSourceMapping', STREAM_CONSUMERS.length);
  });
});

describe('GatewayStack refusals', () => {
  it('GIVEN a stage other than dev, staging, prod WHEN the stack builds THEN it is refused', () => {
    const build = (): GatewayStack =>
      new GatewayStack(new App(), 'Qa', { stage: 'qa' as string as Stage });

    expect(refusalCode(build)).toBe('stageConfig.unknownStage');
    expect(refusalCode(() => resolveStage('production'))).toBe('stageConfig.unknownStage');
    expect(resolveStage(undefined)).toBe('dev');
  });

  it('GIVEN a route timeout of 30 s WHEN its function builds THEN timeoutTooLong is raised', () => {
    const { stack, tables } = tablesOnly();
    const build = (): RouteFunction =>
      new RouteFunction(stack, 'Slow', {
        route: ROUTES[0],
        stage: 'dev',
        tables,
        timeout: Duration.seconds(API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS),
      });

    expect(refusalCode(build)).toBe('routeFunction.timeoutTooLong');
  });

  it('GIVEN a route whose handler file is missing WHEN it builds THEN handlerNotFound', () => {
    const { stack, tables } = tablesOnly();
    const route: RouteDeclaration = { ...ROUTES[0], handler: 'functions/no-such-handler.ts' };

    expect(
      refusalCode(() => new RouteFunction(stack, 'Missing', { route, stage: 'dev', tables })),
    ).toBe('gatewayFunction.handlerNotFound');
  });

  it('GIVEN a consumer of a table without a stream WHEN it builds THEN it is refused', () => {
    const { stack, tables } = tablesOnly();
    const consumer: StreamConsumerDeclaration = { ...TEST_CONSUMER, table: 'clients' };
    const build = (): StreamConsumerFunction =>
      new StreamConsumerFunction(stack, 'Streamless', { consumer, stage: 'dev', tables });

    expect(refusalCode(build)).toBe('streamConsumerFunction.tableWithoutStream');
  });

  it('GIVEN a consumer batch of 0 records WHEN it builds THEN batchSizeOutOfRange', () => {
    const { stack, tables } = tablesOnly();
    const consumer: StreamConsumerDeclaration = { ...TEST_CONSUMER, batchSize: 0 };
    const build = (): StreamConsumerFunction =>
      new StreamConsumerFunction(stack, 'Empty', { consumer, stage: 'dev', tables });

    expect(refusalCode(build)).toBe('streamConsumerFunction.batchSizeOutOfRange');
  });

  it('GIVEN two routes with one route key WHEN the API builds THEN duplicateRouteKey', () => {
    const { stack } = tablesOnly();
    const handler = LambdaFunction.fromFunctionArn(
      stack,
      'Handler',
      'arn:aws:lambda:eu-west-1:123456789012:function:blux-dev-get-health',
    );
    const route = { declaration: ROUTES[0], handler };
    const build = (): GatewayHttpApi =>
      new GatewayHttpApi(stack, 'Api', { stage: 'dev', routes: [route, route] });

    expect(refusalCode(build)).toBe('httpApi.duplicateRouteKey');
  });
});
