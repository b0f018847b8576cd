/**
 * A REST API Lambda proxy event (payload format 1.0) in the shape the HTTP pipeline reads
 * (payload format 2.0). Streaming routes sit on a REST API, whose events are 1.0; translating
 * at the door lets them run the same middlewares as every other route.
 */
import type {
  APIGatewayEventClientCertificate,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
} from 'aws-lambda';

type AnyProxyEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

const isVersion2 = (event: AnyProxyEvent): event is APIGatewayProxyEventV2 =>
  (event as APIGatewayProxyEventV2).version === '2.0';

/** Every header once, lower-cased, repeated values joined with commas as payload 2.0 does. */
const joinedHeaders = (event: APIGatewayProxyEvent): Record<string, string> => {
  const headers: Record<string, string> = {};
  const multi = event.multiValueHeaders ?? {};
  const names = new Set([...Object.keys(event.headers ?? {}), ...Object.keys(multi)]);
  for (const name of names) {
    const values = multi[name] ?? [event.headers?.[name]];
    const present = values.filter((value): value is string => value !== undefined);
    if (present.length > 0 && name.toLowerCase() !== 'cookie') {
      headers[name.toLowerCase()] = present.join(',');
    }
  }

  return headers;
};

const queryOf = (
  event: APIGatewayProxyEvent,
): { raw: string; parameters?: Record<string, string> } => {
  const multi = event.multiValueQueryStringParameters ?? {};
  const search = new URLSearchParams();
  const parameters: Record<string, string> = {};
  for (const [name, values] of Object.entries(multi)) {
    for (const value of values ?? []) {
      search.append(name, value);
    }
    parameters[name] = (values ?? []).join(',');
  }

  return Object.keys(parameters).length === 0
    ? { raw: '' }
    : { raw: search.toString(), parameters };
};

/**
 * The payload 2.0 view of a proxy event; a 2.0 event (a function URL, the test fixtures) is
 * returned as it is.
 */
export const asHttpApiEvent = (event: AnyProxyEvent): APIGatewayProxyEventV2 => {
  if (isVersion2(event)) {
    return event;
  }
  const context = event.requestContext;
  const query = queryOf(event);
  const clientCert = context.identity?.clientCert as APIGatewayEventClientCertificate | null;
  const cookies = event.multiValueHeaders?.cookie ?? event.multiValueHeaders?.Cookie;
  const routeKey = `${event.httpMethod} ${event.resource}`;

  return {
    version: '2.0',
    routeKey,
    rawPath: event.path,
    rawQueryString: query.raw,
    headers: joinedHeaders(event),
    ...(cookies === undefined ? {} : { cookies: cookies.flatMap((c) => c.split(/;\s*/)) }),
    ...(query.parameters === undefined ? {} : { queryStringParameters: query.parameters }),
    ...(event.pathParameters === null ? {} : { pathParameters: event.pathParameters }),
    requestContext: {
      ...(clientCert === null || clientCert === undefined
        ? {}
        : { authentication: { clientCert } }),
      accountId: context.accountId,
      apiId: context.apiId,
      domainName: context.domainName ?? '',
      domainPrefix: (context.domainName ?? '').split('.')[0] ?? '',
      http: {
        method: event.httpMethod,
        path: event.path,
        protocol: context.protocol,
        sourceIp: context.identity.sourceIp,
        userAgent: context.identity.userAgent ?? '',
      },
      requestId: context.requestId,
      routeKey,
      stage: context.stage,
      time: context.requestTime ?? '',
      timeEpoch: context.requestTimeEpoch,
    },
    ...(event.body === null ? {} : { body: event.body }),
    isBase64Encoded: event.isBase64Encoded,
  };
};
