import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import {
  WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE,
  WEBSOCKET_ROUTES,
  WEBSOCKET_STAGE_NAME,
} from '@shared/catalog/websocket-routes';
import { GatewayTables } from '@infra/constructs/gateway-tables';
import { TokenSigningKey } from '@infra/constructs/token-signing-key';
import { GatewayWebSocketApi, WEBSOCKET_ACCESS_LOG_FIELDS } from '@infra/constructs/websocket-api';
import { GatewayStack } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import {
  actionsOf,
  environmentOf,
  functionOf,
  refusalCode,
  roleOf,
  singleResource,
  statementsOf,
} from '@test/unit/infra/template-queries';

const SYNTH_TIMEOUT_MS = 180_000;
const STAGE = 'dev';
const names = {
  authorizer: gatewayFunctionName(STAGE, 'wsAuthorize'),
  connect: gatewayFunctionName(STAGE, 'wsConnect'),
  disconnect: gatewayFunctionName(STAGE, 'wsDisconnect'),
  message: gatewayFunctionName(STAGE, 'wsMessage'),
  fanOut: gatewayFunctionName(STAGE, 'fanOutEvents'),
};

let template: Template;

beforeAll(() => {
  const app = new App();
  template = Template.fromStack(new GatewayStack(app, 'Test-websocket', { stage: STAGE }));
}, SYNTH_TIMEOUT_MS);

const logicalIdOf = (type: string, properties: Record<string, unknown>): string =>
  singleResource(template, type, properties)[0];

const websocketApiId = (): string =>
  logicalIdOf('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });

/** The WebSocket API's resources of `type`; the HTTP API has its own `$default` route. */
const ofWebSocketApi = (type: string) =>
  Object.values(template.findResources(type, { Properties: { ApiId: { Ref: websocketApiId() } } }));

const websocketRoute = (routeKey: string) => {
  const found = ofWebSocketApi('AWS::ApiGatewayV2::Route').filter(
    (route) => route.Properties.RouteKey === routeKey,
  );
  expect(found, routeKey).toHaveLength(1);

  return found[0]?.Properties as Record<string, unknown>;
};

const manageConnectionsHolders = (): string[] =>
  Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).some(
        (statement) => actionsOf(statement as never).includes('execute-api:ManageConnections'),
      ),
    )
    .flatMap((policy) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref))
    .sort();

describe('the WebSocket API', () => {
  it('routes messages by their type to the catalog routes', () => {
    // GIVEN the dev stack, WHEN synthesized, THEN
    const apiId = logicalIdOf('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.type',
    });
    const routeKeys = Object.values(
      template.findResources('AWS::ApiGatewayV2::Route', { Properties: { ApiId: { Ref: apiId } } }),
    ).map((route) => route.Properties.RouteKey as string);

    expect(routeKeys.sort()).toEqual(WEBSOCKET_ROUTES.map((route) => route.routeKey).sort());
  });

  it('authorizes $connect alone, with a Lambda REQUEST authorizer that needs no identity source', () => {
    const authorizer = singleResource(template, 'AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
    });
    const authorizerFunction = singleResource(template, 'AWS::Lambda::Function', {
      FunctionName: names.authorizer,
    })[0];

    expect(authorizer[1].Properties.IdentitySource ?? []).toEqual([]);
    expect(JSON.stringify(authorizer[1].Properties.AuthorizerUri)).toContain(authorizerFunction);
    expect(websocketRoute('$connect')).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizer[0] },
    });
    for (const key of ['$disconnect', '$default', 'subscribe', 'unsubscribe', 'ping']) {
      expect(websocketRoute(key).AuthorizationType ?? 'NONE', key).toBe('NONE');
    }
  });

  it('has one stage with JSON access logs and the stage throttle', () => {
    const stage = singleResource(template, 'AWS::ApiGatewayV2::Stage', {
      StageName: WEBSOCKET_STAGE_NAME,
    })[1].Properties;
    const settings = stage.AccessLogSettings as { Format: string; DestinationArn: unknown };

    expect(stage.AutoDeploy).toBe(true);
    expect(JSON.parse(settings.Format)).toEqual(WEBSOCKET_ACCESS_LOG_FIELDS);
    expect(stage.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: expect.any(Number),
      ThrottlingBurstLimit: expect.any(Number),
    });
  });

  it('gives the four message routes one function, and each function its declared tables', () => {
    const targets = new Set(
      ofWebSocketApi('AWS::ApiGatewayV2::Integration').map((integration) =>
        JSON.stringify(integration.Properties.IntegrationUri),
      ),
    );

    // $connect, $disconnect, and one for subscribe / unsubscribe / ping / $default.
    expect(targets.size).toBe(3);
    expect(environmentOf(template, names.connect)).toMatchObject({
      TABLE_CONNECTIONS: physicalTableName(STAGE, 'connections'),
    });
    const connectWrites = statementsOf(template, names.connect).flatMap(actionsOf);
    expect(connectWrites).toContain('dynamodb:PutItem');
    expect(connectWrites).not.toContain('dynamodb:Query');
  });
});

describe('posting to connections', () => {
  it('is granted to the message handler and the fan-out consumer only, on this stage', () => {
    const holders = manageConnectionsHolders();

    expect(holders).toEqual(
      [roleOf(template, names.fanOut), roleOf(template, names.message)].sort(),
    );
    const grant = statementsOf(template, names.fanOut).find((statement) =>
      actionsOf(statement).includes('execute-api:ManageConnections'),
    );
    expect(JSON.stringify(grant?.Resource)).toContain(`/${WEBSOCKET_STAGE_NAME}/*/@connections/*`);
  });

  it('tells the posting functions the stage callback URL', () => {
    for (const name of [names.message, names.fanOut]) {
      const endpoint = JSON.stringify(
        environmentOf(template, name)[WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE],
      );
      expect(endpoint, name).toContain(`/${WEBSOCKET_STAGE_NAME}`);
      expect(endpoint, name).toContain('execute-api');
    }
    expect(environmentOf(template, names.connect)).not.toHaveProperty(
      WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE,
    );
  });

  it('lets the authorizer verify tokens with the token keys and write refusals to the audit', () => {
    const actions = statementsOf(template, names.authorizer).flatMap(actionsOf);

    expect(actions).toContain('kms:GetPublicKey');
    expect(actions).toContain('dynamodb:PutItem');
    expect(actions).not.toContain('kms:Sign');
    expect(actions).not.toContain('execute-api:ManageConnections');
    expect(environmentOf(template, names.authorizer)).toHaveProperty('BLUX_ISSUER');
  });
});

describe('the tables and the fan-out consumer', () => {
  it('indexes subscriptions by channel and expires connections', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: physicalTableName(STAGE, 'connections'),
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'by_channel',
          KeySchema: [
            { AttributeName: 'channel', KeyType: 'HASH' },
            { AttributeName: 'connection_id', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
  });

  it('feeds the fan-out from the events stream with partial batch responses', () => {
    const eventsTable = logicalIdOf('AWS::DynamoDB::Table', {
      TableName: physicalTableName(STAGE, 'events'),
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [eventsTable, 'StreamArn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('FanOutEvents') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      StartingPosition: 'LATEST',
    });
    expect(functionOf(template, names.fanOut).Timeout).toBeGreaterThan(0);
  });
});

describe('the construct refuses', () => {
  it('a route list without $connect, $disconnect or $default', () => {
    const stack = new Stack(new App(), 'Refusals');
    const tables = new GatewayTables(stack, 'Tables', { stage: STAGE });
    const tokenSigningKey = new TokenSigningKey(stack, 'Key', { stage: STAGE });

    const code = refusalCode(
      () =>
        new GatewayWebSocketApi(stack, 'Api', {
          stage: STAGE,
          tables,
          routes: WEBSOCKET_ROUTES.filter((route) => route.routeKey !== '$default'),
          identity: {
            issuer: 'https://example.test',
            audience: 'blux-api',
            trustedIssuers: [],
            tokenSigningKey,
          },
        }),
    );

    expect(code).toBe('websocketApi.missingRoute');
  });
});
