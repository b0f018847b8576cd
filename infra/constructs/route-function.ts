/**
 * The function behind one HTTP route of the catalog. It is a `GatewayFunction` with the one
 * rule a function behind API Gateway must keep: finish before API Gateway stops waiting.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { routeKey, type RouteDeclaration } from '@shared/catalog/routes';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName } from '@infra/naming';
import {
  API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
  STAGE_CONFIG,
  type LogLevel,
  type Stage,
} from '@infra/stage-config';
import { GatewayFunction } from './gateway-function';
import type { GatewayTables } from './gateway-tables';

/** Props of `RouteFunction`; every optional one falls back to the stage's config. */
export interface RouteFunctionProps {
  /** The catalog's declaration of the route: its handler and the tables it may touch. */
  readonly route: RouteDeclaration;
  readonly stage: Stage;
  readonly tables: GatewayTables;
  /**
   * How long an invocation may run; it must stay below API Gateway's 30 s integration timeout,
   * or a slow call ends in API Gateway's bare 503 instead of the gateway's error envelope.
   *
   * @default - the stage's `functionTimeoutSeconds`
   */
  readonly timeout?: Duration;
  /**
   * Memory in MB.
   *
   * @default - the stage's `memorySizeMb`
   */
  readonly memorySizeMb?: number;
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
   * The shared logger's level.
   *
   * @default - the stage's `logLevel`
   */
  readonly logLevel?: LogLevel;
  /**
   * The folder the route's `handler` path is relative to.
   *
   * @default REPOSITORY_ROOT
   */
  readonly projectRoot?: string;
}

/** The function of one catalog route, refused when it could outlive API Gateway's wait. */
export class RouteFunction extends Construct {
  readonly route: RouteDeclaration;
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: RouteFunctionProps) {
    super(scope, id);

    const { route, stage } = props;
    if (!CATALOG_ID_PATTERN.test(route.id)) {
      throw new InfraConfigError(
        'routeFunction.invalidRouteId',
        `route id ${JSON.stringify(route.id)} is not plain camelCase`,
        { routeId: route.id },
      );
    }
    const timeout = props.timeout ?? Duration.seconds(STAGE_CONFIG[stage].functionTimeoutSeconds);
    if (timeout.toSeconds() >= API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS) {
      throw new InfraConfigError(
        'routeFunction.timeoutTooLong',
        `route ${route.id} has a ${timeout.toSeconds()} s timeout; API Gateway gives up after ` +
          `${API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS} s, so it must be shorter`,
        { routeId: route.id, timeoutSeconds: timeout.toSeconds() },
      );
    }
    this.route = route;

    const gatewayFunction = new GatewayFunction(this, 'Handler', {
      handler: route.handler,
      functionName: gatewayFunctionName(stage, route.id),
      description: `BLUX gateway ${stage}: ${routeKey(route)} (${route.service})`,
      stage,
      tables: props.tables,
      tableAccess: route.tables,
      timeout,
      memorySizeMb: props.memorySizeMb,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      tracing: props.tracing,
      logLevel: props.logLevel,
      projectRoot: props.projectRoot,
    });
    this.function = gatewayFunction.function;
  }
}
