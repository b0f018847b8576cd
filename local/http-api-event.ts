/**
 * Translation between Node's HTTP messages and API Gateway HTTP API payload format 2.0, the
 * event shape and result rules the deployed gateway's handlers see.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayEventClientCertificate,
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { routeKey, type RouteDeclaration } from '@shared/catalog/routes';

/** Media types API Gateway passes as text; every other body arrives base64-encoded. */
const TEXT_MEDIA_TYPE =
  /^(text\/.*|application\/(.*\+)?(json|xml)|application\/(javascript|x-www-form-urlencoded))$/i;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's request time format: `03/Dec/2026:18:10:15 +0000`. */
export const requestTime = (date: Date): string => {
  const pad = (value: number): string => String(value).padStart(2, '0');
  const day = `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}`;

  return `${day}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
};

/** An id in the shape of API Gateway's `requestContext.requestId`. */
export const newRequestId = (): string => randomBytes(10).toString('base64').slice(0, 14) + '=';

const isTextBody = (contentType: string | undefined): boolean => {
  const mediaType = contentType?.split(';')[0]?.trim() ?? '';

  return mediaType === '' || TEXT_MEDIA_TYPE.test(mediaType);
};

const joinedHeaders = (request: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(request.headersDistinct)) {
    // Payload 2.0 moves cookies to their own field.
    if (name !== 'cookie' && values !== undefined) {
      headers[name] = values.join(',');
    }
  }

  return headers;
};

const queryParameters = (rawQueryString: string): Record<string, string> | undefined => {
  if (rawQueryString === '') {
    return undefined;
  }
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    parameters[name] = parameters[name] === undefined ? value : `${parameters[name]},${value}`;
  }

  return parameters;
};

export interface EventInput {
  readonly request: IncomingMessage;
  readonly body: Buffer;
  readonly route: RouteDeclaration;
  readonly pathParameters: Readonly<Record<string, string>>;
  readonly requestId: string;
  readonly now: Date;
  /** The verified client certificate, on the mutual-TLS listener. */
  readonly clientCert?: APIGatewayEventClientCertificate;
}

export const toHttpApiEvent = (input: EventInput): APIGatewayProxyEventV2 => {
  const { request, body, route, now } = input;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const rawQueryString = url.search.startsWith('?') ? url.search.slice(1) : '';
  const headers = joinedHeaders(request);
  const cookies = request.headers.cookie?.split(';').map((cookie) => cookie.trim());
  const text = isTextBody(headers['content-type']);
  const host = headers.host ?? 'localhost';
  const queryStringParameters = queryParameters(rawQueryString);

  return {
    version: '2.0',
    routeKey: routeKey(route),
    rawPath: url.pathname,
    rawQueryString,
    ...(cookies === undefined ? {} : { cookies }),
    headers,
    ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
    ...(Object.keys(input.pathParameters).length === 0
      ? {}
      : { pathParameters: { ...input.pathParameters } }),
    requestContext: {
      ...(input.clientCert === undefined
        ? {}
        : { authentication: { clientCert: input.clientCert } }),
      accountId: 'offline',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey: routeKey(route),
      stage: '$default',
      time: requestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0 ? {} : { body: body.toString(text ? 'utf8' : 'base64') }),
    isBase64Encoded: body.length > 0 && !text,
  };
};

const isStructured = (result: unknown): result is APIGatewayProxyStructuredResultV2 =>
  typeof result === 'object' && result !== null && 'statusCode' in result;

/**
 * Writes a handler's result the way API Gateway interprets payload 2.0 results: a structured
 * result is taken as it is; anything else is a 200 JSON body.
 */
export const writeHttpApiResult = (
  response: ServerResponse,
  result: unknown,
  requestId: string,
): void => {
  const structured: APIGatewayProxyStructuredResultV2 = isStructured(result)
    ? result
    : {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: typeof result === 'string' ? result : JSON.stringify(result),
      };
  const body = Buffer.from(structured.body ?? '', structured.isBase64Encoded ? 'base64' : 'utf8');
  response.statusCode = structured.statusCode ?? 200;
  for (const [name, value] of Object.entries(structured.headers ?? {})) {
    response.setHeader(name, String(value));
  }
  if (structured.cookies !== undefined && structured.cookies.length > 0) {
    response.setHeader('set-cookie', structured.cookies);
  }
  response.setHeader('apigw-requestid', requestId);
  response.setHeader('content-length', body.length);
  response.end(body);
};
