/**
 * The one error the CDK app raises for a bad setting or a bad construct prop. Its `code` is
 * stable and namespaced by the construct that refused (`routeFunction.timeoutTooLong`), so a
 * test or a deploy script can tell failures apart without parsing a sentence.
 */

/** Every code the infrastructure can raise, one list so none is invented at a call site. */
export const INFRA_ERROR_CODES = [
  'stageConfig.unknownStage',
  'gatewayStack.invalidTokenAudience',
  'gatewayStack.invalidTrustedIssuers',
  'gatewayStack.multipleSigningRoutes',
  'gatewayStack.auditRetentionOutOfRange',
  'gatewayTables.invalidStage',
  'gatewayTables.conflictingAttributeType',
  'gatewayTables.duplicateIndexName',
  'gatewayTables.unknownTable',
  'gatewayFunction.handlerNotFound',
  'gatewayFunction.invalidName',
  'gatewayFunction.memoryOutOfRange',
  'gatewayFunction.timeoutOutOfRange',
  'gatewayFunction.unknownTable',
  'gatewayFunction.invalidTableAccess',
  'routeFunction.invalidRouteId',
  'routeFunction.timeoutTooLong',
  'routeFunction.invalidTokenKeys',
  'routeFunction.identifiedWithoutTokenKeys',
  'routeFunction.identityAlreadyConnected',
  'tokenSigningKey.invalidGeneration',
  'tokenSigningKey.invalidPreviousKeyArn',
  'tokenSigningKey.duplicatePreviousKeyArn',
  'gatewayDomain.invalidDomainName',
  'gatewayDomain.invalidCertificateArn',
  'gatewayDomain.certificateInAnotherRegion',
  'gatewayDomain.invalidTruststoreUri',
  'gatewayDomain.invalidTruststoreVersion',
  'httpApi.noRoutes',
  'httpApi.duplicateRouteKey',
  'httpApi.defaultRouteMismatch',
  'httpApi.invalidPath',
  'httpApi.invalidThrottle',
  'streamConsumerFunction.invalidConsumerId',
  'streamConsumerFunction.tableWithoutStream',
  'streamConsumerFunction.batchSizeOutOfRange',
  'streamConsumerFunction.batchingWindowOutOfRange',
  'streamConsumerFunction.retryAttemptsOutOfRange',
  'streamConsumerFunction.parallelizationFactorOutOfRange',
  'scheduledFunction.invalidScheduleId',
  'scheduledFunction.rateOutOfRange',
  'gatewayObservability.invalidThreshold',
  'gatewayObservability.unknownSealer',
  'gatewayObservability.tooManyChannels',
  'websocketApi.missingRoute',
  'websocketApi.duplicateRouteKey',
  'websocketApi.invalidRouteId',
  'eventStreamApi.invalidRouteId',
  'eventStreamApi.streamTooLong',
  'eventStreamApi.invalidPath',
] as const;

export type InfraErrorCode = (typeof INFRA_ERROR_CODES)[number];

/** What was refused, for the operator; never a secret, since props hold none. */
export type InfraErrorDetails = Readonly<Record<string, unknown>>;

/** Raised while the app is built, before anything reaches CloudFormation. */
export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
  readonly code: InfraErrorCode;
  readonly details: InfraErrorDetails;

  /** `cause` keeps the error of a shared check (a `ConfigurationError`) that refused first. */
  constructor(
    code: InfraErrorCode,
    message: string,
    details: InfraErrorDetails = {},
    options: { readonly cause?: unknown } = {},
  ) {
    // The code leads the message so that it shows in the one line `cdk synth` prints.
    super(`${code}: ${message}`, options);
    this.code = code;
    this.details = details;
  }
}
