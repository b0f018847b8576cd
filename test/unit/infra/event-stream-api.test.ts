import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { findStreamingRoute } from '@shared/catalog/streaming-routes';
import { physicalTableName } from '@shared/catalog/tables';
import type { GatewayCustomDomainSettings } from '@infra/constructs/gateway-domain';
import { GatewayEventStreamApi } from '@infra/constructs/event-stream-api';
import { GatewayTables } from '@infra/constructs/gateway-tables';
import { TokenSigningKey } from '@infra/constructs/token-signing-key';
import { GatewayStack, type GatewayStackProps } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import {
  actionsOf,
  environmentOf,
  functionOf,
  onResource,
  refusalCode,
  singleResource,
  statementsOf,
} from '@test/unit/infra/template-queries';

const DOMAIN: GatewayCustomDomainSettings = {
  domainName: 'api.blux.example',
  certificateArn:
    'arn:aws:acm:eu-west-1:123456789012:certificate/0d1c2b3a-4e5f-6a7b-8c9d-0e1f2a3b4c5d',
};
const ENV = { account: '123456789012', region: 'eu-west-1' };
const SSE_FUNCTION = gatewayFunctionName('dev', 'streamEvents');
const SYNTH_TIMEOUT_MS = 60_000;

const synth = (props: Partial<GatewayStackProps> = {}): Template => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });

  return Template.fromStack(new GatewayStack(app, 'Events', { stage: 'dev', env: ENV, ...props }));
};

const MTLS_DOMAIN: GatewayCustomDomainSettings = {
  ...DOMAIN,
  mtls: { truststoreUri: 's3://blux-truststores/dev/ts.pem' },
};

let plain: Template;
let withDomain: Template;
let withMtls: Template;
/** cdk-nag's findings on the stream's constructs in a prod stack with every option. */
let nagFindings: string[];

beforeAll(() => {
  plain = synth();
  withDomain = synth({ customDomain: DOMAIN });
  withMtls = synth({ customDomain: MTLS_DOMAIN });
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });
  const prod = new GatewayStack(app, 'Nag', { stage: 'prod', env: ENV, customDomain: MTLS_DOMAIN });
  nagFindings = new AwsSolutionsChecks()
    .validateScope(prod.eventStreamApi)
    .violations.map((violation) => `${violation.ruleName}:${violation.severity ?? '?'}`);
}, SYNTH_TIMEOUT_MS);

const tableId = (template: Template, id: 'events' | 'tasks' | 'audit'): string =>
  singleResource(template, 'AWS::DynamoDB::Table', { TableName: physicalTableName('dev', id) })[0];

describe('the events table', () => {
  it('GIVEN the catalog WHEN dev synthesizes THEN it has pk S, sk N, a TTL and a new-image stream', () => {
    plain.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: physicalTableName('dev', 'events'),
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'sk', AttributeType: 'N' }]),
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
  });

  it.each([
    ['publishTaskEvents', 'tasks'],
    ['publishAuditEvents', 'audit'],
  ] as const)(
    'GIVEN producer %s WHEN dev synthesizes THEN it reads the %s stream and writes events',
    (consumerId, table) => {
      const functionName = gatewayFunctionName('dev', consumerId);
      const [functionId] = singleResource(plain, 'AWS::Lambda::Function', {
        FunctionName: functionName,
      });
      const events = tableId(plain, 'events');

      plain.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: functionId },
        EventSourceArn: { 'Fn::GetAtt': [tableId(plain, table), 'StreamArn'] },
        BisectBatchOnFunctionError: true,
        StartingPosition: 'TRIM_HORIZON',
      });
      const writes = statementsOf(plain, functionName).filter((statement) =>
        onResource(statement, events),
      );
      expect(writes.flatMap(actionsOf)).toEqual(
        expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query']),
      );
      expect(environmentOf(plain, functionName).TABLE_EVENTS).toBe(
        physicalTableName('dev', 'events'),
      );
    },
  );
});

describe('the SSE streaming route', () => {
  it('GIVEN the catalog WHEN dev synthesizes THEN GET streams from the function through a REST API', () => {
    const [apiId] = singleResource(plain, 'AWS::ApiGateway::RestApi', {
      Name: 'blux-dev-streamEvents',
    });
    const [functionId] = singleResource(plain, 'AWS::Lambda::Function', {
      FunctionName: SSE_FUNCTION,
    });

    plain.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Name: 'blux-dev-streamEvents',
      EndpointConfiguration: { Types: ['REGIONAL'] },
      DisableExecuteApiEndpoint: false,
    });
    plain.hasResourceProperties('AWS::ApiGateway::Method', {
      RestApiId: { Ref: apiId },
      HttpMethod: 'GET',
      AuthorizationType: 'NONE',
      Integration: {
        Type: 'AWS_PROXY',
        IntegrationHttpMethod: 'POST',
        ResponseTransferMode: 'STREAM',
        TimeoutInMillis: 900_000,
        Uri: {
          'Fn::Join': [
            '',
            Match.arrayWith([
              Match.stringLikeRegexp('lambda:path/2021-11-15/functions/$'),
              { 'Fn::GetAtt': [functionId, 'Arn'] },
              '/response-streaming-invocations',
            ]),
          ],
        },
      },
    });
    plain.hasResourceProperties('AWS::ApiGateway::Stage', {
      RestApiId: { Ref: apiId },
      StageName: 'live',
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
    plain.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
    });
  });

  it('GIVEN the catalog WHEN dev synthesizes THEN the function runs as long as Lambda allows and verifies tokens', () => {
    const route = findStreamingRoute('streamEvents');
    const environment = environmentOf(plain, SSE_FUNCTION);
    const events = tableId(plain, 'events');
    const onEvents = statementsOf(plain, SSE_FUNCTION)
      .filter((statement) => onResource(statement, events))
      .flatMap(actionsOf);

    expect(functionOf(plain, SSE_FUNCTION).Timeout).toBe(900);
    expect(route.maxStreamSeconds).toBeLessThan(900);
    expect(environment).toMatchObject({
      BLUX_ISSUER: { 'Fn::GetAtt': [expect.stringMatching(/^HttpApi/), 'ApiEndpoint'] },
      BLUX_AUDIENCE: 'blux-api',
      TABLE_EVENTS: physicalTableName('dev', 'events'),
      AUDIT_RETENTION_DAYS: '400',
    });
    expect(Object.keys(environment)).toEqual(expect.arrayContaining(['TOKEN_KMS_KEY_IDS']));
    expect(onEvents).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem']));
    expect(onEvents).not.toContain('dynamodb:PutItem');
    expect(onEvents).not.toContain('dynamodb:UpdateItem');
  });

  it('GIVEN no custom domain WHEN dev synthesizes THEN there is no API mapping and the URL is an output', () => {
    plain.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
    plain.hasOutput('StreamEventsUrl', { Value: Match.anyValue() });
  });

  it('GIVEN a custom domain WHEN dev synthesizes THEN the stream is mapped at v1/events on it', () => {
    const [apiId] = singleResource(withDomain, 'AWS::ApiGateway::RestApi', {
      Name: 'blux-dev-streamEvents',
    });
    const [domainId] = Object.entries(
      withDomain.findResources('AWS::ApiGatewayV2::DomainName'),
    )[0] as [string, unknown];

    withDomain.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: apiId },
      ApiMappingKey: 'v1/events',
      Stage: { Ref: Match.stringLikeRegexp('DeploymentStage') },
      DomainName: { Ref: domainId },
    });
    // The HTTP API keeps the domain's root.
    withDomain.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 2);
    withDomain.hasOutput('StreamEventsUrl', { Value: 'https://api.blux.example/v1/events' });
  });

  it('GIVEN a domain with mTLS WHEN dev synthesizes THEN the stream has no execute-api endpoint', () => {
    withMtls.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Name: 'blux-dev-streamEvents',
      DisableExecuteApiEndpoint: true,
    });
  });

  it('GIVEN cdk-nag AwsSolutions WHEN it checks the stream in prod THEN nothing is left open', () => {
    expect(nagFindings).toEqual([]);
  });

  it('GIVEN a stream as long as Lambda allows WHEN the construct builds THEN it is refused', () => {
    const stack = new Stack(new App({ context: { [BUNDLING_STACKS]: [] } }), 'Refusal');
    const tables = new GatewayTables(stack, 'Tables', { stage: 'dev' });
    const tokenSigningKey = new TokenSigningKey(stack, 'Key', { stage: 'dev' });
    const route = { ...findStreamingRoute('streamEvents'), maxStreamSeconds: 900 };

    const code = refusalCode(
      () =>
        new GatewayEventStreamApi(stack, 'Stream', {
          stage: 'dev',
          tables,
          routes: [route],
          identity: { issuer: 'https://x', audience: 'a', trustedIssuers: [], tokenSigningKey },
        }),
    );

    expect(code).toBe('eventStreamApi.streamTooLong');
  });
});
