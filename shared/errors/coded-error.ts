/**
 * The base of the gateway's internal faults: an error with a stable, namespaced `code`
 * (`auditStore.malformedItem`) that its message starts with, so a log line and a test can name
 * the fault without parsing prose. These never reach a client as they are: the error envelope
 * turns anything that is not a `GatewayError` into a generic 500 and logs it in full.
 */
export class CodedError<TCode extends string> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: TCode;

  constructor(code: TCode, message: string, options?: ErrorOptions) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
