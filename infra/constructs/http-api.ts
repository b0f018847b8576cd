/**
 * The gateway's front door: an API Gateway HTTP API with one route per catalog route, the
 * `$default` route for everything else, and a single `$default` stage that logs every request
 * as one JSON line and enforces the stage throttle. With a custom domain the API also answers
 * there, and with mutual TLS only there.
 */
import { Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_ROUTE_KEY, routeKey, type RouteDeclaration } from '@shared/catalog/routes';
import { InfraConfigError } from '@infra/infra-error';
import { pascalCase } from '@infra/naming';
import { STAGE_CONFIG, type Stage, type StageThrottle } from '@infra/stage-config';
import {
  assertValidCustomDomain,
  GatewayDomain,
  type GatewayCustomDomainSettings,
} from './gateway-domain';

/** A catalog route and the function that answers it. */
export interface HttpApiRoute {
  readonly declaration: RouteDeclaration;
  readonly handler: IFunction;
}

/** Props of `GatewayHttpApi`. */
export interface GatewayHttpApiProps {
  readonly stage: Stage;
  /** Every route the API serves; route keys must be unique. */
  readonly routes: readonly HttpApiRoute[];
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
  /**
   * A custom domain mapped to the `$default` stage. With its `mtls`, the execute-api endpoint
   * is disabled, so that every caller passes the client certificate check.
   *
   * @default - no custom domain; callers use the execute-api endpoint
   */
  readonly customDomain?: GatewayCustomDomainSettings;
}

/**
 * One access log line per request. Every value is quoted so the line stays valid JSON even
 * when API Gateway writes `-` for a value it does not have, such as a latency on an error.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  integrationLatency: '$context.integrationLatency',
  // The function invocation's request id, the `function_request_id` of its request log line.
  integrationRequestId: '$context.integration.requestId',
  integrationStatus: '$context.integration.status',
  latency: '$context.responseLatency',
  errorMessage: '$context.error.message',
  integrationErrorMessage: '$context.integrationErrorMessage',
} as const;

const PATH_PATTERN = /^\/[A-Za-z0-9_\-./{}+]*$/;

/**
 * Why no route has an API Gateway authorizer: the gateway authenticates in its own middleware,
 * the same code in AWS and locally, so an authorizer would be a second, diverging check.
 */
const NO_AUTHORIZER_REASONS: Record<RouteDeclaration['access'], string> = {
  public: 'public by design; it answers without credentials, so there is nothing to authorize.',
  identified:
    "the gateway's own authentication middleware verifies the bearer JWT with aws-jwt-verify " +
    '(or the registered client certificate) and checks the scopes before the handler runs.',
  client:
    'the token endpoint authenticates the client itself from its credentials; an authorizer ' +
    'would demand the very token this route issues.',
};

/** The HTTP API, its `$default` stage with JSON access logs and throttling, and its routes. */
export class GatewayHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  /** The stage's execute-api invoke URL, ending in `/`; disabled when the domain has mTLS. */
  readonly url: string;
  /** The custom domain, when one was asked for. */
  readonly domain?: GatewayDomain;
  /**
   * Where callers reach the gateway, without a trailing slash, and so the `iss` of its tokens:
   * `https://<custom domain>` when there is one, the API's execute-api endpoint otherwise.
   */
  readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: GatewayHttpApiProps) {
    super(scope, id);

    const stageConfig = STAGE_CONFIG[props.stage];
    const throttle = props.throttle ?? stageConfig.throttle;
    assertValidRoutes(props.routes);
    assertValidThrottle(throttle);
    const customDomain = props.customDomain;
    const mutualTls =
      customDomain !== undefined && assertValidCustomDomain(this, customDomain) !== undefined;

    this.api = new HttpApi(this, 'Api', {
      apiName: `blux-${props.stage}-gateway`,
      description: `BLUX gateway (${props.stage})`,
      // The stage is made below, where access logs and throttling can be set on it.
      createDefaultStage: false,
      // API Gateway checks client certificates on the custom domain only.
      disableExecuteApiEndpoint: mutualTls,
    });
    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? stageConfig.logRetention,
      removalPolicy: props.removalPolicy ?? stageConfig.removalPolicy,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: DEFAULT_ROUTE_KEY,
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimitPerSecond, burstLimit: throttle.burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.url = this.stage.url;

    if (customDomain !== undefined) {
      this.domain = new GatewayDomain(this, 'CustomDomain', {
        ...customDomain,
        httpApi: this.api,
        stage: this.stage,
      });
    }
    this.baseUrl = this.domain?.baseUrl ?? this.api.apiEndpoint;

    for (const route of props.routes) {
      this.addRoute(route);
    }
  }

  private addRoute({ declaration, handler }: HttpApiRoute): void {
    const key =
      declaration.method === null
        ? HttpRouteKey.DEFAULT
        : HttpRouteKey.with(declaration.path, HttpMethod[declaration.method]);
    const route = new HttpRoute(this, `Route${pascalCase(declaration.id)}`, {
      httpApi: this.api,
      routeKey: key,
      integration: new HttpLambdaIntegration(`${pascalCase(declaration.id)}Integration`, handler, {
        payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      }),
    });

    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: `${routeKey(declaration)}: ${NO_AUTHORIZER_REASONS[declaration.access]}`,
    });
  }
}

const assertValidRoutes = (routes: readonly HttpApiRoute[]): void => {
  if (routes.length === 0) {
    throw new InfraConfigError('httpApi.noRoutes', 'an HTTP API needs at least one route');
  }

  const seen = new Set<string>();
  for (const { declaration } of routes) {
    const isDefault = declaration.method === null;
    if (isDefault !== (declaration.path === DEFAULT_ROUTE_KEY)) {
      throw new InfraConfigError(
        'httpApi.defaultRouteMismatch',
        `route ${declaration.id} must have both a null method and the ${DEFAULT_ROUTE_KEY} ` +
          'path, or neither',
        { routeId: declaration.id },
      );
    }
    if (!isDefault && !PATH_PATTERN.test(declaration.path)) {
      throw new InfraConfigError(
        'httpApi.invalidPath',
        `route ${declaration.id} has path ${JSON.stringify(declaration.path)}; ` +
          'a path starts with / and holds no spaces or query',
        { routeId: declaration.id, path: declaration.path },
      );
    }
    const key = routeKey(declaration);
    if (seen.has(key)) {
      throw new InfraConfigError('httpApi.duplicateRouteKey', `route key ${key} appears twice`, {
        routeKey: key,
      });
    }
    seen.add(key);
  }
};

const assertValidThrottle = (throttle: StageThrottle): void => {
  const { rateLimitPerSecond, burstLimit } = throttle;
  if (!(rateLimitPerSecond > 0) || !Number.isInteger(burstLimit) || burstLimit <= 0) {
    throw new InfraConfigError(
      'httpApi.invalidThrottle',
      `throttle needs a positive rate and a positive whole burst, got ` +
        `${rateLimitPerSecond}/s and ${burstLimit}`,
      { rateLimitPerSecond, burstLimit },
    );
  }
};
