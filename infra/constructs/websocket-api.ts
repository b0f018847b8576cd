/**
 * The WebSocket API of `/v1/events`: an API Gateway WebSocket API whose routes come from
 * `shared/catalog/websocket-routes.ts`, chosen by `$request.body.type`; a Lambda REQUEST
 * authorizer on `$connect`; one stage with JSON access logs and the stage throttle; and one
 * function per handler module (the four message routes share one).
 *
 * Who may post to connections: only the functions whose routes declare `postsToConnections`
 * (the message handler, which replies and replays) and the functions handed to
 * `grantManageConnections` (the fan-out consumer). The grant is `execute-api:ManageConnections`
 * on this stage's `@connections` resources alone.
 */
import { Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  LogGroupLogDestination,
  WebSocketApi,
  WebSocketStage,
  type CfnApi,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  WEBSOCKET_AUTHORIZER,
  WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE,
  WEBSOCKET_ROUTE_SELECTION_EXPRESSION,
  WEBSOCKET_ROUTES,
  WEBSOCKET_STAGE_NAME,
  type WebSocketRouteDeclaration,
} from '@shared/catalog/websocket-routes';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName, pascalCase } from '@infra/naming';
import { STAGE_CONFIG, type Stage, type StageThrottle } from '@infra/stage-config';
import {
  GatewayFunction,
  passThroughSettings,
  type GatewayFunctionSettings,
} from './gateway-function';
import { connectTokenVerification, type RouteIdentitySettings } from './route-function';

/** One access log line per connection event or message, every value quoted to stay JSON. */
export const WEBSOCKET_ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  connectionId: '$context.connectionId',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  status: '$context.status',
  integrationLatency: '$context.integrationLatency',
  authorizerError: '$context.authorizer.error',
  errorMessage: '$context.error.message',
  principalId: '$context.authorizer.principalId',
} as const;

/** Props of `GatewayWebSocketApi`; the function settings fall back to the stage's config. */
export interface GatewayWebSocketApiProps extends GatewayFunctionSettings {
  readonly stage: Stage;
  /**
   * The routes to serve; `$connect`, `$disconnect` and `$default` must be among them.
   *
   * @default WEBSOCKET_ROUTES - the catalog's routes
   */
  readonly routes?: readonly WebSocketRouteDeclaration[];
  /** The issuer, audience, trusted issuers and token keys the authorizer verifies with. */
  readonly identity: RouteIdentitySettings;
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
   * What `cdk destroy` does to the access log group.
   *
   * @default - the stage's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;
}

const REQUIRED_ROUTE_KEYS = ['$connect', '$disconnect', '$default'] as const;

/** The WebSocket API, its stage, its authorizer and the functions behind its routes. */
export class GatewayWebSocketApi extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly accessLogGroup: LogGroup;
  readonly authorizerFunction: NodejsFunction;
  /** The function of each handler module, by module path. */
  readonly routeFunctions: ReadonlyMap<string, NodejsFunction>;
  /** `wss://…/events`, where clients connect. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: GatewayWebSocketApiProps) {
    super(scope, id);

    const stageConfig = STAGE_CONFIG[props.stage];
    const routes = props.routes ?? WEBSOCKET_ROUTES;
    assertValidRoutes(routes);
    const throttle = props.throttle ?? stageConfig.throttle;
    const settings: GatewayFunctionSettings = {
      stage: props.stage,
      tables: props.tables,
      timeout: props.timeout,
      ...passThroughSettings(props),
    };

    this.authorizerFunction = new GatewayFunction(this, 'Authorizer', {
      ...settings,
      handler: WEBSOCKET_AUTHORIZER.handler,
      functionName: gatewayFunctionName(props.stage, WEBSOCKET_AUTHORIZER.id),
      description: `BLUX gateway ${props.stage}: authorizes WebSocket connections`,
      tableAccess: WEBSOCKET_AUTHORIZER.tables,
    }).function;
    connectTokenVerification(this.authorizerFunction, props.identity);
    const authorizer = new WebSocketLambdaAuthorizer('ConnectAuthorizer', this.authorizerFunction, {
      // No identity source: the token may be in any of three places (see the catalog), and API
      // Gateway refuses without asking the authorizer when a listed source is missing.
      identitySource: [],
    });

    this.api = new WebSocketApi(this, 'Api', {
      apiName: `blux-${props.stage}-events`,
      description: `BLUX gateway events (${props.stage})`,
      routeSelectionExpression: WEBSOCKET_ROUTE_SELECTION_EXPRESSION,
    });
    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? stageConfig.logRetention,
      removalPolicy: props.removalPolicy ?? stageConfig.removalPolicy,
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: WEBSOCKET_STAGE_NAME,
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimitPerSecond, burstLimit: throttle.burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(WEBSOCKET_ACCESS_LOG_FIELDS)),
      },
    });
    this.url = this.stage.url;

    const functions = new Map<string, NodejsFunction>();
    for (const route of routes) {
      const handler = functions.get(route.handler) ?? this.createFunction(route, routes, settings);
      functions.set(route.handler, handler);
      this.api.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${pascalCase(route.id)}Integration`, handler),
        ...(route.routeKey === '$connect' ? { authorizer } : {}),
      });
    }
    this.routeFunctions = functions;
    this.acknowledgeRouteAuthorization();
  }

  /** Lets `fn` post to and close this stage's connections, and tells it where. */
  grantManageConnections(fn: LambdaFunctionWithEnvironment): void {
    fn.addEnvironment(WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE, this.stage.callbackUrl);
    this.stage.grantManagementApiAccess(fn);
    const principal = fn.grantPrincipal;
    if (!Construct.isConstruct(principal)) {
      return;
    }
    const apiLogicalId = Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnApi);

    Validations.of(principal).acknowledge({
      id:
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:' +
        `<AWS::AccountId>:<${apiLogicalId}>/${WEBSOCKET_STAGE_NAME}/*/@connections/*]`,
      reason:
        'Connection ids are made by API Gateway as clients connect, so the grant names them ' +
        'with a wildcard; it covers this API and stage only (post, read and close).',
    });
  }

  /** The function of the handler module shared by every route that names it. */
  private createFunction(
    route: WebSocketRouteDeclaration,
    routes: readonly WebSocketRouteDeclaration[],
    settings: GatewayFunctionSettings,
  ): NodejsFunction {
    const sharing = routes.filter((candidate) => candidate.handler === route.handler);
    const functionId = handlerId(route.handler);
    const tableAccess = Object.assign(
      {},
      ...sharing.map((candidate) => candidate.tables),
    ) as WebSocketRouteDeclaration['tables'];
    const fn = new GatewayFunction(this, `Route${pascalCase(functionId)}`, {
      ...settings,
      handler: route.handler,
      functionName: gatewayFunctionName(settings.stage, functionId),
      description: `BLUX gateway ${settings.stage}: WebSocket ${sharing
        .map((candidate) => candidate.routeKey)
        .join(', ')}`,
      tableAccess,
    }).function;
    if (sharing.some((candidate) => candidate.postsToConnections)) {
      this.grantManageConnections(fn);
    }

    return fn;
  }

  private acknowledgeRouteAuthorization(): void {
    for (const child of this.api.node.children) {
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'A WebSocket API authorizes once, on $connect, with the Lambda authorizer; later ' +
          'messages and $disconnect belong to that authorized connection.',
      });
    }
  }
}

/** A function that can learn an environment variable, as `NodejsFunction` can. */
export type LambdaFunctionWithEnvironment = IFunction & {
  addEnvironment(name: string, value: string): unknown;
};

/** `functions/ws-message.ts` → `wsMessage`, the function's catalog-style id. */
const handlerId = (handler: string): string =>
  (handler.split('/').pop() ?? handler)
    .replace(/\.ts$/, '')
    .replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

const assertValidRoutes = (routes: readonly WebSocketRouteDeclaration[]): void => {
  const keys = routes.map((route) => route.routeKey);
  const missing = REQUIRED_ROUTE_KEYS.filter((key) => !keys.includes(key));
  if (missing.length > 0) {
    throw new InfraConfigError(
      'websocketApi.missingRoute',
      `a WebSocket API needs the routes ${missing.join(', ')}`,
      { missing },
    );
  }
  const duplicate = keys.find((key, index) => keys.indexOf(key) !== index);
  if (duplicate !== undefined) {
    throw new InfraConfigError(
      'websocketApi.duplicateRouteKey',
      `route key ${duplicate} appears twice`,
      {
        routeKey: duplicate,
      },
    );
  }
  const badId = routes.find((route) => !CATALOG_ID_PATTERN.test(route.id));
  if (badId !== undefined) {
    throw new InfraConfigError(
      'websocketApi.invalidRouteId',
      `route id ${JSON.stringify(badId.id)} is not plain camelCase`,
      { routeId: badId.id },
    );
  }
};
