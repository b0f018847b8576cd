import { describe, expect, it } from 'vitest';
import { selectWebSocketRoute } from '@shared/catalog/websocket-routes';
import { UnauthorizedError } from '@shared/errors/gateway-error';
import { parseClientMessage, WebSocketMessageError } from '@shared/events/websocket-messages';
import { acceptedSubprotocol, connectAuthorization } from '@shared/events/websocket-token';

const refusal = (text: string): WebSocketMessageError => {
  try {
    parseClientMessage(text);
  } catch (error) {
    if (error instanceof WebSocketMessageError) return error;
    throw error;
  }
  throw new Error('the message was accepted');
};

describe('parseClientMessage', () => {
  it('reads subscribe with the last event id per channel', () => {
    const message = parseClientMessage(
      '{"type":"subscribe","id":"r1","channels":["task_updates"],"last_event_ids":{"task_updates":"41"}}',
    );

    expect(message).toEqual({
      type: 'subscribe',
      id: 'r1',
      channels: ['task_updates'],
      last_event_ids: { task_updates: '41' },
    });
  });

  it.each([
    ['not JSON', '{"type":', 'message'],
    ['no type', '{"channels":[]}', 'message.type'],
    ['an unknown type', '{"type":"shout"}', 'message.type'],
    ['no channels', '{"type":"subscribe","channels":[]}', 'message.channels'],
    [
      'an event id that is not decimal',
      '{"type":"subscribe","channels":["a"],"last_event_ids":{"a":"x1"}}',
      'message.last_event_ids.a',
    ],
    ['an unknown field', '{"type":"ping","extra":1}', 'message'],
  ])('refuses %s, naming the field', (_, text, field) => {
    const error = refusal(text);

    expect(error.code).toBe('VALIDATION_FAILED');
    expect((error.details.fields as { field: string }[])[0]?.field).toBe(field);
  });

  it('keeps the client id of a refused message for the reply', () => {
    expect(refusal('{"type":"subscribe","id":"r9","channels":"x"}').messageId).toBe('r9');
  });
});

describe('selectWebSocketRoute', () => {
  it.each([
    ['{"type":"subscribe"}', 'subscribe'],
    ['{"type":"ping"}', 'ping'],
    ['{"type":"$connect"}', '$default'],
    ['{"type":"shout"}', '$default'],
    ['not json', '$default'],
    ['null', '$default'],
  ])('sends %s to %s', (body, routeKey) => {
    expect(selectWebSocketRoute(body).routeKey).toBe(routeKey);
  });
});

describe('connectAuthorization', () => {
  it('prefers the Authorization header, then the subprotocol, then the query string', () => {
    expect(
      connectAuthorization({
        headers: { Authorization: 'Bearer h.h.h', 'Sec-WebSocket-Protocol': 'bearer, p.p.p' },
        queryStringParameters: { access_token: 'q.q.q' },
      }),
    ).toBe('Bearer h.h.h');
    expect(
      connectAuthorization({
        headers: { 'Sec-WebSocket-Protocol': 'bearer, p.p.p' },
        queryStringParameters: { access_token: 'q.q.q' },
      }),
    ).toBe('Bearer p.p.p');
    expect(connectAuthorization({ queryStringParameters: { access_token: 'q.q.q' } })).toBe(
      'Bearer q.q.q',
    );
  });

  it('refuses no token and a token that cannot be one', () => {
    expect(() => connectAuthorization({})).toThrow(UnauthorizedError);
    expect(() =>
      connectAuthorization({ queryStringParameters: { access_token: 'two words' } }),
    ).toThrow(/malformed/);
    expect(() => connectAuthorization({ headers: { 'sec-websocket-protocol': 'bearer' } })).toThrow(
      UnauthorizedError,
    );
  });

  it('accepts the bearer subprotocol only when it was offered', () => {
    expect(acceptedSubprotocol({ 'Sec-WebSocket-Protocol': 'bearer, t.t.t' })).toBe('bearer');
    expect(acceptedSubprotocol({ 'Sec-WebSocket-Protocol': 'graphql-ws' })).toBeUndefined();
    expect(acceptedSubprotocol({})).toBeUndefined();
  });
});
