import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_ROUTE_KEY, ROUTES, routeKey } from '@shared/catalog/routes';
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

const synthesized = (): string[] => {
  // Skipping bundling keeps this test fast; the route keys do not depend on the bundles.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'RoutesAgree', { stage: 'dev' });
  const routes = Template.fromStack(stack).findResources('AWS::ApiGatewayV2::Route');

  return Object.values(routes).map((route) => String(route.Properties.RouteKey));
};

describe('one list of routes', () => {
  const declared = ROUTES.map(routeKey);

  it('the OpenAPI document describes every declared route and no other', () => {
    expect(documented().sort()).toEqual(declared.filter((key) => key !== DEFAULT_ROUTE_KEY).sort());
  });

  // Synthesis takes seconds, and more on a loaded machine.
  it(
    'the synthesized HTTP API has exactly the declared routes, $default included',
    { timeout: 120_000 },
    () => {
      expect(synthesized().sort()).toEqual([...declared].sort());
    },
  );
});
