import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { asHttpApiEvent } from '@shared/lambda/rest-proxy-event';
import { httpEvent } from '@test/fixtures/events';

/** A REST API proxy event as API Gateway sends it for `GET /v1/events` on the custom domain. */
const restEvent = (changes: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent =>
  ({
    resource: '/',
    path: '/v1/events',
    httpMethod: 'GET',
    headers: { Accept: 'text/event-stream', 'X-Forwarded-For': '203.0.113.9' },
    multiValueHeaders: {
      Accept: ['text/event-stream'],
      'X-Forwarded-For': ['203.0.113.9'],
      'X-Trace': ['a', 'b'],
      Cookie: ['theme=dark; lang=de'],
    },
    queryStringParameters: { channels: 'audit_events' },
    multiValueQueryStringParameters: { channels: ['task_updates', 'audit_events'] },
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      domainName: 'api.blux.example',
      httpMethod: 'GET',
      identity: {
        sourceIp: '203.0.113.9',
        userAgent: 'curl/8',
        clientCert: {
          clientCertPem: '-----BEGIN CERTIFICATE-----',
          subjectDN: 'CN=billing,O=BLUX,C=DE',
          issuerDN: 'CN=BLUX CA',
          serialNumber: '01',
          validity: { notBefore: '2026-01-01', notAfter: '2027-01-01' },
        },
      },
      path: '/v1/events',
      protocol: 'HTTP/1.1',
      requestId: 'rest-request-1',
      requestTime: '03/Dec/2026:18:00:00 +0000',
      requestTimeEpoch: 1_796_320_800_000,
      resourceId: 'root',
      resourcePath: '/',
      stage: 'live',
    },
    body: null,
    isBase64Encoded: false,
    ...changes,
  }) as unknown as APIGatewayProxyEvent;

describe('asHttpApiEvent', () => {
  it('reads a REST API event as payload 2.0: headers lower-cased and joined, query joined', () => {
    const event = asHttpApiEvent(restEvent());

    expect(event).toMatchObject({
      version: '2.0',
      rawPath: '/v1/events',
      rawQueryString: 'channels=task_updates&channels=audit_events',
      queryStringParameters: { channels: 'task_updates,audit_events' },
      headers: { accept: 'text/event-stream', 'x-forwarded-for': '203.0.113.9', 'x-trace': 'a,b' },
      cookies: ['theme=dark', 'lang=de'],
      requestContext: {
        requestId: 'rest-request-1',
        stage: 'live',
        http: { method: 'GET', path: '/v1/events', sourceIp: '203.0.113.9', userAgent: 'curl/8' },
        authentication: { clientCert: { subjectDN: 'CN=billing,O=BLUX,C=DE' } },
      },
      isBase64Encoded: false,
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event).not.toHaveProperty('body');
  });

  it('leaves out the certificate and the query when the request has none', () => {
    const base = restEvent();
    const event = asHttpApiEvent(
      restEvent({
        queryStringParameters: null,
        multiValueQueryStringParameters: null,
        requestContext: {
          ...base.requestContext,
          identity: { ...base.requestContext.identity, clientCert: null },
        },
      }),
    );

    expect(event.rawQueryString).toBe('');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event.requestContext).not.toHaveProperty('authentication');
  });

  it('passes a payload 2.0 event through as it is', () => {
    const v2 = httpEvent({ path: '/v1/events' }) as unknown as APIGatewayProxyEventV2;

    expect(asHttpApiEvent(v2)).toBe(v2);
  });
});
