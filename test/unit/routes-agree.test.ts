import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_ROUTE_KEY, ROUTES, routeKey } from '@shared/catalog/routes';
import { STREAMING_ROUTES } from '@shared/catalog/streaming-routes';
import { GatewayStack } from '@infra/gateway-stack';

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch']);

const documented = (): string[] => {
  const document = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, unknown>>;
  };

  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.has(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
};

interface Synthesized {
  /** The route keys of the HTTP API (the WebSocket API's routes are the same resource type). */
  readonly httpRoutes: string[];
  /** `GET /v1/events` and the like: each streaming REST API's methods, by its name. */
  readonly streamingMethods: Record<string, string[]>;
}

const synthesize = (): Synthesized => {
  // Skipping bundling keeps this test fast; the route keys do not depend on the bundles.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'RoutesAgree', { stage: 'dev' });
  const template = Template.fromStack(stack);
  const httpApis = Object.keys(
    template.findResources('AWS::ApiGatewayV2::Api', { Properties: { ProtocolType: 'HTTP' } }),
  );
  const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).filter((route) =>
    httpApis.includes(String((route.Properties.ApiId as { Ref?: string }).Ref)),
  );
  const restApis = template.findResources('AWS::ApiGateway::RestApi');
  const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
  const streamingMethods = Object.fromEntries(
    Object.entries(restApis).map(([logicalId, api]) => [
      String(api.Properties.Name),
      methods
        .filter((method) => (method.Properties.RestApiId as { Ref?: string }).Ref === logicalId)
        .map((method) => String(method.Properties.HttpMethod)),
    ]),
  );

  return { httpRoutes: routes.map((route) => String(route.Properties.RouteKey)), streamingMethods };
};

let cached: Synthesized | undefined;

/** One synthesis for both tests that read it. */
const synthesized = (): Synthesized => {
  cached ??= synthesize();

  return cached;
};

describe('one list of routes', () => {
  const declared = ROUTES.map(routeKey);
  const streamed = STREAMING_ROUTES.map(routeKey);

  it('the OpenAPI document describes every declared route, streaming ones too, and no other', () => {
    expect(documented().sort()).toEqual(
      [...declared.filter((key) => key !== DEFAULT_ROUTE_KEY), ...streamed].sort(),
    );
  });

  // Synthesis takes seconds, and more on a loaded machine.
  it(
    'the synthesized HTTP API has exactly the declared routes, $default included',
    { timeout: 120_000 },
    () => {
      expect(synthesized().httpRoutes.sort()).toEqual([...declared].sort());
    },
  );

  it(
    'each streaming route is a REST API of its own serving exactly its method, and no other',
    { timeout: 120_000 },
    () => {
      expect(synthesized().streamingMethods).toEqual(
        Object.fromEntries(
          STREAMING_ROUTES.map((route) => [`blux-dev-${route.id}`, [route.method]]),
        ),
      );
    },
  );
});
