/**
 * The streaming routes of `shared/catalog/streaming-routes.ts` (`GET /v1/events` as
 * Server-Sent Events) in AWS.
 *
 * Why not the HTTP API: an HTTP API buffers a Lambda function's whole response before it
 * sends a byte, so an event stream would arrive only when it ends. A REST API's Lambda proxy
 * integration can stream instead (`responseTransferMode: STREAM`, which invokes the function
 * with `InvokeWithResponseStream`), with an integration timeout of up to 15 minutes. Each
 * streaming route therefore gets a REST API of its own whose root method is the route, and on
 * the gateway's custom domain an API mapping at the route's path (`v1/events`): API Gateway
 * picks the longest matching mapping, so `/v1/events` reaches the stream and every other path
 * the HTTP API, behind one base URL. Without a custom domain the stream has its own
 * execute-api URL (the stack's `EventStreamUrl` output).
 *
 * Limits, as the README says: one response lasts at most 15 minutes (Lambda's limit); the
 * function ends it a minute before (`maxStreamSeconds`) and the client reconnects with its
 * `Last-Event-ID`. Each open stream is one running function, billed for its duration.
 */
import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  ResponseTransferMode,
  RestApi,
  type Method,
} from 'aws-cdk-lib/aws-apigateway';
import { CfnApiMapping, type IDomainName } from 'aws-cdk-lib/aws-apigatewayv2';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  LAMBDA_MAX_DURATION_SECONDS,
  STREAMING_ROUTES,
  type StreamingRouteDeclaration,
} from '@shared/catalog/streaming-routes';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName, pascalCase } from '@infra/naming';
import { STAGE_CONFIG, type Stage, type StageThrottle } from '@infra/stage-config';
import {
  GatewayFunction,
  passThroughSettings,
  type GatewayFunctionSettings,
} from './gateway-function';
import { connectTokenVerification, type RouteIdentitySettings } from './route-function';

/** The REST API stage of each streaming route. */
export const EVENT_STREAM_STAGE_NAME = 'live';

/** One access log line per stream, as the HTTP API writes one per request. */
export const EVENT_STREAM_ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  integrationLatency: '$context.integrationLatency',
  errorMessage: '$context.error.message',
} as const;

/** Props of `GatewayEventStreamApi`; the function settings fall back to the stage's config. */
export interface GatewayEventStreamApiProps extends Omit<GatewayFunctionSettings, 'timeout'> {
  readonly stage: Stage;
  /**
   * The streaming routes to serve.
   *
   * @default STREAMING_ROUTES - the catalog's streaming routes
   */
  readonly routes?: readonly StreamingRouteDeclaration[];
  /** The issuer, audience, trusted issuers and token keys the functions verify tokens with. */
  readonly identity: RouteIdentitySettings;
  /**
   * The gateway's custom domain: each route is mapped on it at its own path.
   *
   * @default - no custom domain; each route has its own execute-api URL
   */
  readonly domainName?: IDomainName;
  /**
   * Whether the custom domain demands client certificates; the execute-api endpoints are then
   * disabled, or a caller could stream around the check.
   *
   * @default false
   */
  readonly mutualTls?: boolean;
  /**
   * The stage-wide throttle.
   *
   * @default - the stage's `throttle` in `STAGE_CONFIG`
   */
  readonly throttle?: StageThrottle;
  /**
   * How long access logs are kept.
   *
   * @default - the stage's `logRetention`
   */
  readonly accessLogRetention?: RetentionDays;
  /**
   * What `cdk destroy` does to the access log groups.
   *
   * @default - the stage's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** One streaming route as built: its REST API, its function and where clients reach it. */
export interface BuiltStreamingRoute {
  readonly route: StreamingRouteDeclaration;
  readonly api: RestApi;
  readonly function: NodejsFunction;
  /** The stage's execute-api URL, ending in `/`. */
  readonly url: string;
  readonly mapping?: CfnApiMapping;
}

/** A REST API per streaming route, each mapped on the custom domain at the route's path. */
export class GatewayEventStreamApi extends Construct {
  readonly routes: ReadonlyMap<string, BuiltStreamingRoute>;

  constructor(scope: Construct, id: string, props: GatewayEventStreamApiProps) {
    super(scope, id);

    const routes = props.routes ?? STREAMING_ROUTES;
    routes.forEach(assertValidRoute);
    const built = new Map<string, BuiltStreamingRoute>();
    for (const route of routes) {
      built.set(route.id, this.buildRoute(route, props));
    }
    this.routes = built;
  }

  private buildRoute(
    route: StreamingRouteDeclaration,
    props: GatewayEventStreamApiProps,
  ): BuiltStreamingRoute {
    const stageConfig = STAGE_CONFIG[props.stage];
    const throttle = props.throttle ?? stageConfig.throttle;
    const name = pascalCase(route.id);

    const fn = new GatewayFunction(this, `${name}Function`, {
      stage: props.stage,
      tables: props.tables,
      ...passThroughSettings(props),
      handler: route.handler,
      functionName: gatewayFunctionName(props.stage, route.id),
      description: `BLUX gateway ${props.stage}: ${route.method} ${route.path} (streaming)`,
      tableAccess: route.tables,
      // The stream ends itself before this (`maxStreamSeconds`); this is Lambda's own limit.
      timeout: Duration.seconds(LAMBDA_MAX_DURATION_SECONDS),
    }).function;
    connectTokenVerification(fn, props.identity);

    const accessLogs = new LogGroup(this, `${name}AccessLogs`, {
      retention: props.accessLogRetention ?? stageConfig.logRetention,
      removalPolicy: props.removalPolicy ?? stageConfig.removalPolicy,
    });
    const api = new RestApi(this, `${name}Api`, {
      restApiName: `blux-${props.stage}-${route.id}`,
      description: `BLUX gateway (${props.stage}): ${route.method} ${route.path}, streamed`,
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      disableExecuteApiEndpoint: props.mutualTls === true,
      // Execution logs need an account-wide role; the access log says what a stream did.
      cloudWatchRole: false,
      deployOptions: {
        stageName: EVENT_STREAM_STAGE_NAME,
        throttlingRateLimit: throttle.rateLimitPerSecond,
        throttlingBurstLimit: throttle.burstLimit,
        tracingEnabled: stageConfig.tracing,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(JSON.stringify(EVENT_STREAM_ACCESS_LOG_FIELDS)),
      },
    });
    const method = api.root.addMethod(
      route.method,
      new LambdaIntegration(fn, {
        proxy: true,
        responseTransferMode: ResponseTransferMode.STREAM,
        timeout: Duration.seconds(LAMBDA_MAX_DURATION_SECONDS),
      }),
      // The function authenticates the caller itself, with the pipeline every route runs.
      { authorizationType: AuthorizationType.NONE },
    );
    this.acknowledge(api, method, route);

    const mapping =
      props.domainName === undefined
        ? undefined
        : new CfnApiMapping(this, `${name}Mapping`, {
            domainName: props.domainName.name,
            apiId: api.restApiId,
            stage: api.deploymentStage.stageName,
            apiMappingKey: route.path.replace(/^\//, ''),
          });

    return {
      route,
      api,
      function: fn,
      url: api.url,
      ...(mapping === undefined ? {} : { mapping }),
    };
  }

  /** What cdk-nag asks of a REST API that this design answers otherwise, and how. */
  private acknowledge(api: RestApi, method: Method, route: StreamingRouteDeclaration): void {
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'The function validates the query and headers itself, with the same zod schemas and ' +
        'error envelope as every route; a request validator here would answer in another shape.',
    });
    Validations.of(api.deploymentStage).acknowledge(
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'No WAF on the stream, as on the HTTP API: the gateway rate-limits each identity ' +
          'before a stream starts, and the stage throttle bounds the rest.',
      },
      {
        id: 'AwsSolutions-APIG6',
        reason:
          'Execution logs need an account-wide CloudWatch role outside this stack; every ' +
          'stream has an access log line, and the function logs the request.',
      },
    );
    Validations.of(method).acknowledge(
      {
        id: 'AwsSolutions-APIG4',
        reason:
          `${route.method} ${route.path} authenticates its callers in the function (bearer ` +
          'token or client certificate), as every identified HTTP route does.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason:
          'Callers are gateway clients and users of trusted issuers, verified by the function; ' +
          "a Cognito authorizer would refuse the gateway's own tokens.",
      },
    );
  }
}

const assertValidRoute = (route: StreamingRouteDeclaration): void => {
  if (!CATALOG_ID_PATTERN.test(route.id)) {
    throw new InfraConfigError(
      'eventStreamApi.invalidRouteId',
      `streaming route id ${JSON.stringify(route.id)} is not plain camelCase`,
      { routeId: route.id },
    );
  }
  if (route.maxStreamSeconds < 1 || route.maxStreamSeconds >= LAMBDA_MAX_DURATION_SECONDS) {
    throw new InfraConfigError(
      'eventStreamApi.streamTooLong',
      `route ${route.id} streams for ${route.maxStreamSeconds} s; it must end before Lambda's ` +
        `${LAMBDA_MAX_DURATION_SECONDS} s limit`,
      { routeId: route.id, maxStreamSeconds: route.maxStreamSeconds },
    );
  }
  if (!/^\/[a-z0-9/-]+$/.test(route.path)) {
    throw new InfraConfigError(
      'eventStreamApi.invalidPath',
      `streaming route ${route.id} has path ${route.path}; an API mapping needs a plain path`,
      { routeId: route.id, path: route.path },
    );
  }
};
