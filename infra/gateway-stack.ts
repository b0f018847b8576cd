/**
 * The BLUX gateway in one stack: the catalog's tables, a function per route behind an HTTP API,
 * the KMS key that signs the gateway's tokens, the audit trail's two secrets, an optional custom
 * domain with mutual TLS, and a function per stream consumer. Everything it builds is read from
 * `shared/catalog/`, so a route or a table exists here exactly when it exists in the local
 * runtime.
 */
import { CfnOutput, Duration, Stack, Tags, Token, Validations, type StackProps } from 'aws-cdk-lib';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ROUTES, type RouteDeclaration, type TableAccess } from '@shared/catalog/routes';
import { SCHEDULES, type ScheduleDeclaration } from '@shared/catalog/schedules';
import { STREAM_CONSUMERS, type StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import {
  checkTrustedIssuers,
  type TrustedIssuerConfig,
} from '@shared/identity/tokens/trusted-issuers';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '@shared/config';
import { DATASET_BUCKET_VARIABLE } from '@shared/tasks/executors/dataset-stores';
import { FAILURE_QUEUE_URLS_VARIABLE } from '@shared/health/backlog-checks';
import { AuditSecrets } from '@infra/constructs/audit-secrets';
import { DatasetBucket } from '@infra/constructs/dataset-bucket';
import { GatewayEventStreamApi } from '@infra/constructs/event-stream-api';
import type { GatewayCustomDomainSettings } from '@infra/constructs/gateway-domain';
import { GatewayHttpApi } from '@infra/constructs/http-api';
import {
  GatewayObservability,
  type ObservabilityThresholds,
} from '@infra/constructs/gateway-observability';
import { GatewayTables } from '@infra/constructs/gateway-tables';
import { RouteFunction, type RouteIdentitySettings } from '@infra/constructs/route-function';
import { ScheduledFunction } from '@infra/constructs/scheduled-function';
import { StreamConsumerFunction } from '@infra/constructs/stream-consumer-function';
import { TokenSigningKey } from '@infra/constructs/token-signing-key';
import { GatewayWebSocketApi } from '@infra/constructs/websocket-api';
import { WEBSOCKET_AUTHORIZER, WEBSOCKET_ROUTES } from '@shared/catalog/websocket-routes';
import { InfraConfigError } from '@infra/infra-error';
import { pascalCase } from '@infra/naming';
import { POWERTOOLS_SERVICE_NAME } from '@infra/constructs/gateway-function';
import { assertStage, type Stage } from '@infra/stage-config';

/** The `aud` of the gateway's tokens unless a stack says otherwise; the handlers' default too. */
export const DEFAULT_TOKEN_AUDIENCE = 'blux-api';

/** The longest audit retention the stack accepts: ten years, in days. */
export const MAX_AUDIT_RETENTION_DAYS = 3650;

/** The environment variable through which entry writers learn the retention. */
export const AUDIT_RETENTION_DAYS_VARIABLE = 'AUDIT_RETENTION_DAYS';

/** The route that lists audit entries, a reader of the page-token secret. */
export const AUDIT_LISTING_ROUTE_ID = 'listAuditEntries';

/** The route that lists tasks, which signs its page tokens with the same secret. */
export const TASK_LISTING_ROUTE_ID = 'listTasks';

/** The routes that sign page tokens: the only readers of the page-token secret. */
const PAGE_TOKEN_ROUTE_IDS: readonly string[] = [AUDIT_LISTING_ROUTE_ID, TASK_LISTING_ROUTE_ID];

/** The stream consumer that seals audit entries, the one reader of the signing secret. */
export const AUDIT_SEALER_CONSUMER_ID = 'sealAudit';

/** The route that reads failure-queue depths for its backlog checks. */
export const HEALTH_ROUTE_ID = 'getHealth';

/** The route that renders the stage's CloudWatch metrics for Prometheus. */
export const METRICS_ROUTE_ID = 'getMetrics';
/** The stream consumer that posts events to WebSocket connections. */
export const FAN_OUT_CONSUMER_ID = 'fanOutEvents';

/** Audit table access that can add entries: such functions learn the retention. */
const AUDIT_WRITING_ACCESS: readonly TableAccess[] = ['append', 'readAppend', 'write', 'readWrite'];

/**
 * The sealer's settings beyond its catalog declaration, which describes what it does, not how
 * AWS should run it. It signs up to a batch of 100 entries with ES512 in one transaction per
 * chain, hence more memory (and CPU) and a longer timeout than the request path's. Its access
 * to the audit table is narrowed to the seal fields; `auditCheckpoints` stays read/write.
 */
const AUDIT_SEALER_SETTINGS = {
  memorySizeMb: 1024,
  timeout: Duration.seconds(60),
  sealFieldsOnly: true,
} as const;

/** The stream consumer that runs internal tasks, the one reader of the dataset bucket. */
export const TASK_EXECUTOR_CONSUMER_ID = 'executeTasks';

/**
 * The executor's settings beyond its declaration, which already gives its timeout (the
 * longest internal task type's, plus the retry wait and a margin). Analyses are CPU-bound and
 * keep up to `EXACT_QUANTILE_VALUES` numbers per column, for up to a batch of tasks at once.
 */
const TASK_EXECUTOR_SETTINGS = {
  memorySizeMb: 2048,
} as const;

/** Props of `GatewayStack`; any other `StackProps` pass through, `env` included. */
export interface GatewayStackProps extends StackProps {
  /** The stage to build; it picks settings from `STAGE_CONFIG` and prefixes physical names. */
  readonly stage: Stage;
  /**
   * The HTTP routes to serve.
   *
   * @default ROUTES - the catalog's routes
   */
  readonly routes?: readonly RouteDeclaration[];
  /**
   * The stream consumers to run.
   *
   * @default STREAM_CONSUMERS - the catalog's consumers
   */
  readonly streamConsumers?: readonly StreamConsumerDeclaration[];
  /**
   * The scheduled functions to run.
   *
   * @default SCHEDULES - the catalog's schedules
   */
  readonly schedules?: readonly ScheduleDeclaration[];
  /**
   * The `aud` of the gateway's tokens, given to every route as `BLUX_AUDIENCE`.
   *
   * @default DEFAULT_TOKEN_AUDIENCE - `blux-api`
   */
  readonly tokenAudience?: string;
  /**
   * Issuers of user tokens that the routes which authenticate callers accept besides the
   * gateway's own, such as a Cognito user pool. They are checked while synthesizing, with the
   * check the functions apply at start, and reach those routes as `BLUX_TRUSTED_ISSUERS`.
   *
   * @default - none: only the gateway's own tokens are accepted
   */
  readonly trustedIssuers?: readonly TrustedIssuerConfig[];
  /**
   * Which token signing key is active; raise it by one to rotate the key, as the file comment
   * of `infra/constructs/token-signing-key.ts` describes.
   *
   * @default 1
   */
  readonly tokenKeyGeneration?: number;
  /**
   * ARNs of the token keys that signed before the active one, newest first: they stay
   * published and verify their tokens until removed, one hour after the rotation at the
   * earliest (a token lives `TOKEN_TTL_SECONDS`).
   *
   * @default - none
   */
  readonly previousTokenKeyArns?: readonly string[];
  /**
   * A custom domain for the API, optionally with mutual TLS. It becomes the tokens' issuer,
   * `https://<domainName>`; with `mtls` the execute-api endpoint is disabled.
   *
   * @default - no custom domain: the issuer is the execute-api endpoint
   */
  readonly customDomain?: GatewayCustomDomainSettings;
  /**
   * Days an audit entry is kept before DynamoDB's TTL may delete it, 1 to
   * `MAX_AUDIT_RETENTION_DAYS`; every function that may write audit entries receives it as
   * `AUDIT_RETENTION_DAYS`.
   *
   * @default DEFAULT_AUDIT_RETENTION_DAYS - 400
   */
  readonly auditRetentionDays?: number;
  /**
   * Notified by every alarm of the stage when it fires and when it clears.
   *
   * @default - alarms without actions
   */
  readonly alarmTopic?: ITopic;
  /** @default - the defaults of `ObservabilityThresholds` */
  readonly alarmThresholds?: ObservabilityThresholds;
  /**
   * Active X-Ray tracing on every function, overriding the stage's `tracing`.
   *
   * @default - the stage's `tracing` in `STAGE_CONFIG`
   */
  readonly tracing?: boolean;
}

/** The stack's name for a stage, the one `infra/app.ts` deploys. */
export const gatewayStackName = (stage: Stage): string => `BluxGateway-${stage}`;

/**
 * The gateway of one stage. Build it with `new GatewayStack(app, gatewayStackName(stage), {
 * stage })`; tests pass their own `streamConsumers` to cover what the catalog lacks yet.
 */
export class GatewayStack extends Stack {
  readonly stage: Stage;
  readonly tables: GatewayTables;
  readonly routeFunctions: ReadonlyMap<string, RouteFunction>;
  readonly streamConsumerFunctions: ReadonlyMap<string, StreamConsumerFunction>;
  readonly httpApi: GatewayHttpApi;
  readonly tokenSigningKey: TokenSigningKey;
  readonly auditSecrets: AuditSecrets;
  readonly datasetBucket: DatasetBucket;
  readonly scheduledFunctions: ReadonlyMap<string, ScheduledFunction>;
  readonly observability: GatewayObservability;
  /** The streaming routes (`GET /v1/events` as SSE), each a REST API in STREAM mode. */
  readonly eventStreamApi: GatewayEventStreamApi;
  readonly websocketApi: GatewayWebSocketApi;

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    const {
      stage: requestedStage,
      routes: requestedRoutes,
      streamConsumers,
      schedules,
      tokenAudience,
      trustedIssuers: requestedIssuers,
      tokenKeyGeneration,
      previousTokenKeyArns,
      customDomain,
      auditRetentionDays: requestedRetentionDays,
      alarmTopic,
      alarmThresholds,
      tracing,
      ...stackProps
    } = props;
    const stage = assertStage(requestedStage);
    const routes = requestedRoutes ?? ROUTES;
    const audience = tokenAudience ?? DEFAULT_TOKEN_AUDIENCE;
    assertValidAudience(audience);
    const trustedIssuers = checkedTrustedIssuers(requestedIssuers ?? []);
    assertSingleSigningRoute(routes);
    const auditRetentionDays = requestedRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
    assertValidAuditRetention(auditRetentionDays);
    super(scope, id, {
      description: `BLUX gateway (${stage}): HTTP API, route functions and tables`,
      // Deleting the production stack takes a deliberate extra step, on top of table protection.
      terminationProtection: stage === 'prod',
      ...stackProps,
    });

    this.stage = stage;
    Tags.of(this).add('blux:stage', stage);
    Tags.of(this).add('blux:service', POWERTOOLS_SERVICE_NAME);
    this.tables = new GatewayTables(this, 'Tables', { stage });
    this.tokenSigningKey = new TokenSigningKey(this, 'TokenSigningKey', {
      stage,
      generation: tokenKeyGeneration,
      previousKeyArns: previousTokenKeyArns,
    });
    this.auditSecrets = new AuditSecrets(this, 'AuditSecrets', { stage });
    this.datasetBucket = new DatasetBucket(this, 'DatasetBucket', { stage });

    const routeFunctions = new Map<string, RouteFunction>();
    for (const route of routes) {
      const routeFunction = new RouteFunction(this, `Route${pascalCase(route.id)}`, {
        route,
        stage,
        tables: this.tables,
        tracing,
      });
      routeFunctions.set(route.id, routeFunction);
      connectAuditRetention(routeFunction.function, route.tables, auditRetentionDays);
      if (PAGE_TOKEN_ROUTE_IDS.includes(route.id)) {
        this.auditSecrets.grantPageTokenSecretRead(routeFunction.function);
      }
    }
    this.routeFunctions = routeFunctions;

    this.httpApi = new GatewayHttpApi(this, 'HttpApi', {
      stage,
      routes: [...routeFunctions.values()].map((routeFunction) => ({
        declaration: routeFunction.route,
        handler: routeFunction.function,
      })),
      customDomain,
    });
    // The functions learn the issuer only now: without a custom domain it is the API's own
    // endpoint. A function referring to the API makes no cycle, since the API itself refers to
    // no function; its routes and integrations do, and they depend on both.
    const identity: RouteIdentitySettings = {
      issuer: this.httpApi.baseUrl,
      audience,
      trustedIssuers,
      tokenSigningKey: this.tokenSigningKey,
    };
    for (const routeFunction of routeFunctions.values()) {
      routeFunction.connectIdentity(identity);
    }
    this.addOutputs();

    // An HTTP API cannot stream; the SSE route is a REST API mapped on the same domain.
    this.eventStreamApi = new GatewayEventStreamApi(this, 'EventStreamApi', {
      stage,
      tables: this.tables,
      tracing,
      identity,
      domainName: this.httpApi.domain?.domainName,
      mutualTls: this.httpApi.domain?.mutualTls,
    });
    for (const streaming of this.eventStreamApi.routes.values()) {
      connectAuditRetention(streaming.function, streaming.route.tables, auditRetentionDays);
      new CfnOutput(this, `${pascalCase(streaming.route.id)}Url`, {
        description: `${streaming.route.method} ${streaming.route.path} (streamed)`,
        value:
          this.httpApi.domain === undefined
            ? streaming.url
            : `${this.httpApi.domain.baseUrl}${streaming.route.path}`,
      });
    }

    const consumerFunctions = new Map<string, StreamConsumerFunction>();
    for (const consumer of streamConsumers ?? STREAM_CONSUMERS) {
      const isSealer = consumer.id === AUDIT_SEALER_CONSUMER_ID;
      const isExecutor = consumer.id === TASK_EXECUTOR_CONSUMER_ID;
      const consumerFunction = new StreamConsumerFunction(
        this,
        `StreamConsumer${pascalCase(consumer.id)}`,
        {
          consumer,
          stage,
          tables: this.tables,
          tracing,
          ...(isSealer ? AUDIT_SEALER_SETTINGS : {}),
          ...(isExecutor ? TASK_EXECUTOR_SETTINGS : {}),
        },
      );
      consumerFunctions.set(consumer.id, consumerFunction);
      connectAuditRetention(consumerFunction.function, consumer.tables, auditRetentionDays);
      if (isSealer) {
        this.auditSecrets.grantSigningSecretRead(consumerFunction.function);
      }
      if (isExecutor) {
        this.datasetBucket.grantDatasetRead(consumerFunction.function);
        consumerFunction.function.addEnvironment(
          DATASET_BUCKET_VARIABLE,
          this.datasetBucket.bucket.bucketName,
        );
      }
    }
    this.streamConsumerFunctions = consumerFunctions;

    const scheduledFunctions = new Map<string, ScheduledFunction>();
    for (const schedule of schedules ?? SCHEDULES) {
      const scheduledFunction = new ScheduledFunction(this, `Schedule${pascalCase(schedule.id)}`, {
        schedule,
        stage,
        tables: this.tables,
        tracing,
      });
      scheduledFunctions.set(schedule.id, scheduledFunction);
      connectAuditRetention(scheduledFunction.function, schedule.tables, auditRetentionDays);
    }
    this.scheduledFunctions = scheduledFunctions;

    this.websocketApi = new GatewayWebSocketApi(this, 'WebSocketApi', {
      stage,
      tables: this.tables,
      tracing,
      identity,
    });
    connectAuditRetention(
      this.websocketApi.authorizerFunction,
      WEBSOCKET_AUTHORIZER.tables,
      auditRetentionDays,
    );
    for (const route of WEBSOCKET_ROUTES) {
      const fn = this.websocketApi.routeFunctions.get(route.handler);
      if (fn !== undefined) {
        connectAuditRetention(fn, route.tables, auditRetentionDays);
      }
    }
    const fanOut = consumerFunctions.get(FAN_OUT_CONSUMER_ID);
    if (fanOut !== undefined) {
      this.websocketApi.grantManageConnections(fanOut.function);
    }
    new CfnOutput(this, 'EventsWebSocketUrl', {
      description: 'Where WebSocket clients connect to follow events',
      value: this.websocketApi.url,
    });

    connectFailureQueues(routeFunctions.get(HEALTH_ROUTE_ID), consumerFunctions);
    connectCloudWatchReads(routeFunctions.get(METRICS_ROUTE_ID));
    this.observability = new GatewayObservability(this, 'Observability', {
      stage,
      httpApi: this.httpApi.api,
      routeFunctions: new Map(
        [...routeFunctions].map(([routeId, routeFunction]) => [routeId, routeFunction.function]),
      ),
      streamConsumers: new Map(
        [...consumerFunctions].map(([consumerId, consumer]) => [
          consumerId,
          { id: consumerId, function: consumer.function, failureQueue: consumer.failureQueue },
        ]),
      ),
      otherFunctions: this.otherFunctions(),
      sealerConsumerId: consumerFunctions.has(AUDIT_SEALER_CONSUMER_ID)
        ? AUDIT_SEALER_CONSUMER_ID
        : undefined,
      alarmTopic,
      thresholds: alarmThresholds,
    });
  }

  /** The functions that are neither routes nor stream consumers, by a name of their own. */
  private otherFunctions(): ReadonlyMap<string, IFunction> {
    const functions = new Map<string, IFunction>();
    for (const [scheduleId, scheduled] of this.scheduledFunctions) {
      functions.set(`schedule:${scheduleId}`, scheduled.function);
    }
    for (const streaming of this.eventStreamApi.routes.values()) {
      functions.set(`streaming:${streaming.route.id}`, streaming.function);
    }
    functions.set('websocket:authorizer', this.websocketApi.authorizerFunction);
    for (const [handler, fn] of this.websocketApi.routeFunctions) {
      functions.set(`websocket:${handler}`, fn);
    }

    return functions;
  }

  private addOutputs(): void {
    const domain = this.httpApi.domain;
    new CfnOutput(this, 'ApiUrl', {
      description: 'Invoke URL of the gateway HTTP API',
      value: domain === undefined ? this.httpApi.url : `${domain.baseUrl}/`,
    });
    new CfnOutput(this, 'TokenIssuer', {
      description: 'The iss of the gateway tokens, its public base URL',
      value: this.httpApi.baseUrl,
    });
    new CfnOutput(this, 'TokenSigningKeyArn', {
      description: 'The active token signing key; list it in previousTokenKeyArns to rotate',
      value: this.tokenSigningKey.activeKey.keyArn,
    });
    if (domain !== undefined) {
      new CfnOutput(this, 'CustomDomainTarget', {
        description: 'Where the custom domain must point: a CNAME or alias to this name',
        value: domain.domainName.regionalDomainName,
      });
      new CfnOutput(this, 'CustomDomainHostedZoneId', {
        description: 'The hosted zone of CustomDomainTarget, for a Route 53 alias record',
        value: domain.domainName.regionalHostedZoneId,
      });
    }
  }
}

/** The health route reads each failure queue's depth: its URL, and that attribute alone. */
const connectFailureQueues = (
  health: RouteFunction | undefined,
  consumers: ReadonlyMap<string, StreamConsumerFunction>,
): void => {
  if (health === undefined || consumers.size === 0) {
    return;
  }
  const urls = Object.fromEntries(
    [...consumers].map(([consumerId, consumer]) => [consumerId, consumer.failureQueue.queueUrl]),
  );
  health.function.addEnvironment(FAILURE_QUEUE_URLS_VARIABLE, Stack.of(health).toJsonString(urls));
  for (const consumer of consumers.values()) {
    consumer.failureQueue.grant(health.function, 'sqs:GetQueueAttributes');
  }
};

/** The metrics route lists and reads the stage's CloudWatch metrics, which need `*`. */
const connectCloudWatchReads = (metrics: RouteFunction | undefined): void => {
  if (metrics === undefined) {
    return;
  }
  metrics.function.addToRolePolicy(
    new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
      resources: ['*'],
    }),
  );
  const role = metrics.function.role;
  if (role !== undefined) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:GetMetricData and cloudwatch:ListMetrics support no resource-level ' +
        'permissions; the route reads only the BLUX/Gateway namespace of its own stage. ' +
        'Where tracing is on, X-Ray accepts only Resource "*" for its two write actions too.',
    });
  }
};

const assertValidAudience = (audience: string): void => {
  if (!Token.isUnresolved(audience) && !/^\S+$/.test(audience)) {
    throw new InfraConfigError(
      'gatewayStack.invalidTokenAudience',
      `token audience ${JSON.stringify(audience)} must be a non-empty string without spaces`,
      { audience },
    );
  }
};

/** A function that may write audit entries keeps them as long as the stack says. */
const connectAuditRetention = (
  fn: LambdaFunction,
  tables: RouteDeclaration['tables'],
  retentionDays: number,
): void => {
  const access = tables.audit;
  if (access !== undefined && AUDIT_WRITING_ACCESS.includes(access)) {
    fn.addEnvironment(AUDIT_RETENTION_DAYS_VARIABLE, String(retentionDays));
  }
};

const assertValidAuditRetention = (days: number): void => {
  if (!Number.isInteger(days) || days < 1 || days > MAX_AUDIT_RETENTION_DAYS) {
    throw new InfraConfigError(
      'gatewayStack.auditRetentionOutOfRange',
      `audit retention ${days} days must be a whole number in 1-${MAX_AUDIT_RETENTION_DAYS}`,
      { auditRetentionDays: days },
    );
  }
};

/** The same check the functions run on `BLUX_TRUSTED_ISSUERS`, so a mistake fails the synth. */
const checkedTrustedIssuers = (issuers: readonly TrustedIssuerConfig[]): TrustedIssuerConfig[] => {
  try {
    return checkTrustedIssuers(issuers, 'the trustedIssuers prop');
  } catch (error) {
    throw new InfraConfigError(
      'gatewayStack.invalidTrustedIssuers',
      // The shared check's own code would only repeat this one.
      String(error instanceof Error ? error.message : error).replace(/^config\.\w+: /, ''),
      {},
      { cause: error },
    );
  }
};

/** Signing is the token endpoint's alone: one role with `kms:Sign`, not one per route. */
const assertSingleSigningRoute = (routes: readonly RouteDeclaration[]): void => {
  const signing = routes.filter((route) => route.tokenKeys === 'sign').map((route) => route.id);
  if (signing.length > 1) {
    throw new InfraConfigError(
      'gatewayStack.multipleSigningRoutes',
      `routes ${signing.join(', ')} all ask to sign tokens; only the token endpoint may`,
      { routeIds: signing },
    );
  }
};
