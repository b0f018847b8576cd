/**
 * The BLUX gateway in one stack: the catalog's tables, a function per route behind an HTTP API,
 * and a function per stream consumer. Everything it builds is read from `shared/catalog/`, so
 * a route or a table exists here exactly when it exists in the local runtime.
 */
import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ROUTES, type RouteDeclaration } from '@shared/catalog/routes';
import { STREAM_CONSUMERS, type StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { GatewayHttpApi } from '@infra/constructs/http-api';
import { GatewayTables } from '@infra/constructs/gateway-tables';
import { RouteFunction } from '@infra/constructs/route-function';
import { StreamConsumerFunction } from '@infra/constructs/stream-consumer-function';
import { pascalCase } from '@infra/naming';
import { POWERTOOLS_SERVICE_NAME } from '@infra/constructs/gateway-function';
import { assertStage, type Stage } from '@infra/stage-config';

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

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    const { stage: requestedStage, routes, streamConsumers, ...stackProps } = props;
    const stage = assertStage(requestedStage);
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

    const routeFunctions = new Map<string, RouteFunction>();
    for (const route of routes ?? ROUTES) {
      const routeFunction = new RouteFunction(this, `Route${pascalCase(route.id)}`, {
        route,
        stage,
        tables: this.tables,
      });
      routeFunctions.set(route.id, routeFunction);
    }
    this.routeFunctions = routeFunctions;

    this.httpApi = new GatewayHttpApi(this, 'HttpApi', {
      stage,
      routes: [...routeFunctions.values()].map((routeFunction) => ({
        declaration: routeFunction.route,
        handler: routeFunction.function,
      })),
    });
    new CfnOutput(this, 'ApiUrl', {
      description: 'Invoke URL of the gateway HTTP API',
      value: this.httpApi.url,
    });

    const consumerFunctions = new Map<string, StreamConsumerFunction>();
    for (const consumer of streamConsumers ?? STREAM_CONSUMERS) {
      const consumerFunction = new StreamConsumerFunction(
        this,
        `StreamConsumer${pascalCase(consumer.id)}`,
        { consumer, stage, tables: this.tables },
      );
      consumerFunctions.set(consumer.id, consumerFunction);
    }
    this.streamConsumerFunctions = consumerFunctions;
  }
}
