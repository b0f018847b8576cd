/**
 * The function behind one HTTP route of the catalog. It is a `GatewayFunction` with the one
 * rule a function behind API Gateway must keep, finish before API Gateway stops waiting, and
 * the identity settings its route declaration calls for, connected once the API exists.
 */
import { Duration } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { routeKey, type RouteDeclaration } from '@shared/catalog/routes';
import {
  TRUSTED_ISSUERS_VARIABLE,
  type TrustedIssuerConfig,
} from '@shared/identity/tokens/trusted-issuers';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName } from '@infra/naming';
import { API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, STAGE_CONFIG } from '@infra/stage-config';
import {
  GatewayFunction,
  passThroughSettings,
  type GatewayFunctionSettings,
} from './gateway-function';
import type { TokenSigningKey } from './token-signing-key';

const TOKEN_KEY_USES: readonly NonNullable<RouteDeclaration['tokenKeys']>[] = ['verify', 'sign'];

/** The gateway's identity settings, the same for every route of a stage. */
export interface RouteIdentitySettings {
  /** `BLUX_ISSUER`: the gateway's public base URL, without a trailing slash. */
  readonly issuer: string;
  /** `BLUX_AUDIENCE`: the `aud` of the gateway's tokens. */
  readonly audience: string;
  /** `BLUX_TRUSTED_ISSUERS`, already checked; empty leaves the variable unset. */
  readonly trustedIssuers: readonly TrustedIssuerConfig[];
  /** The keys a route with `tokenKeys` verifies with, and the token endpoint signs with. */
  readonly tokenSigningKey: TokenSigningKey;
}

/**
 * Gives a function that is not an HTTP route (the SSE function, the WebSocket authorizer) what
 * an identified route has to verify tokens: the issuer, the audience, the trusted issuers and
 * a read of the token keys, never a signature.
 */
export const connectTokenVerification = (
  fn: NodejsFunction,
  identity: RouteIdentitySettings,
): void => {
  fn.addEnvironment('BLUX_ISSUER', identity.issuer);
  fn.addEnvironment('BLUX_AUDIENCE', identity.audience);
  if (identity.trustedIssuers.length > 0) {
    fn.addEnvironment(TRUSTED_ISSUERS_VARIABLE, JSON.stringify(identity.trustedIssuers));
  }
  for (const [name, value] of Object.entries(identity.tokenSigningKey.environmentVariables())) {
    fn.addEnvironment(name, value);
  }
  identity.tokenSigningKey.grantVerify(fn);
};

/** Props of `RouteFunction`; every optional one falls back to the stage's config. */
export interface RouteFunctionProps extends GatewayFunctionSettings {
  /** The catalog's declaration of the route: its handler and the tables it may touch. */
  readonly route: RouteDeclaration;
  /**
   * How long an invocation may run; it must stay below API Gateway's 30 s integration timeout,
   * or a slow call ends in API Gateway's bare 503 instead of the gateway's error envelope.
   *
   * @default - the stage's `functionTimeoutSeconds`
   */
  readonly timeout?: Duration;
}

/** The function of one catalog route, refused when it could outlive API Gateway's wait. */
export class RouteFunction extends Construct {
  readonly route: RouteDeclaration;
  readonly function: NodejsFunction;
  private identityConnected = false;

  constructor(scope: Construct, id: string, props: RouteFunctionProps) {
    super(scope, id);

    const { route, stage } = props;
    if (!CATALOG_ID_PATTERN.test(route.id)) {
      throw new InfraConfigError(
        'routeFunction.invalidRouteId',
        `route id ${JSON.stringify(route.id)} is not plain camelCase`,
        { routeId: route.id },
      );
    }
    const timeout = props.timeout ?? Duration.seconds(STAGE_CONFIG[stage].functionTimeoutSeconds);
    if (timeout.toSeconds() >= API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS) {
      throw new InfraConfigError(
        'routeFunction.timeoutTooLong',
        `route ${route.id} has a ${timeout.toSeconds()} s timeout; API Gateway gives up after ` +
          `${API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS} s, so it must be shorter`,
        { routeId: route.id, timeoutSeconds: timeout.toSeconds() },
      );
    }
    assertValidTokenKeys(route);
    this.route = route;

    const gatewayFunction = new GatewayFunction(this, 'Handler', {
      handler: route.handler,
      functionName: gatewayFunctionName(stage, route.id),
      description: `BLUX gateway ${stage}: ${routeKey(route)} (${route.service})`,
      stage,
      tables: props.tables,
      tableAccess: route.tables,
      timeout,
      ...passThroughSettings(props),
    });
    this.function = gatewayFunction.function;
  }

  /**
   * Gives the function what its route declares, and no more: every route learns the issuer
   * and the audience (the discovery document names the issuer, and no value of theirs is
   * secret); routes that authenticate callers also learn the trusted issuers; only routes with
   * `tokenKeys` learn the key ARNs and may read the public keys; and only a `sign` route may
   * sign. Called once, after the API exists, because the issuer can be the API's own endpoint.
   */
  connectIdentity(settings: RouteIdentitySettings): void {
    if (this.identityConnected) {
      throw new InfraConfigError(
        'routeFunction.identityAlreadyConnected',
        `the identity settings of route ${this.route.id} are already connected`,
        { routeId: this.route.id },
      );
    }
    this.identityConnected = true;
    this.function.addEnvironment('BLUX_ISSUER', settings.issuer);
    this.function.addEnvironment('BLUX_AUDIENCE', settings.audience);
    if (this.route.access === 'identified' && settings.trustedIssuers.length > 0) {
      this.function.addEnvironment(
        TRUSTED_ISSUERS_VARIABLE,
        JSON.stringify(settings.trustedIssuers),
      );
    }

    const { tokenKeys } = this.route;
    if (tokenKeys === undefined) {
      return;
    }
    const key = settings.tokenSigningKey;
    for (const [name, value] of Object.entries(key.environmentVariables())) {
      this.function.addEnvironment(name, value);
    }
    key.grantVerify(this.function);
    if (tokenKeys === 'sign') {
      key.grantSign(this.function);
    }
  }
}

/**
 * A route that authenticates callers verifies their tokens, and so must read the token keys; a
 * `tokenKeys` value from a cast or a JavaScript caller must still be one the stack knows.
 */
const assertValidTokenKeys = (route: RouteDeclaration): void => {
  if (route.tokenKeys !== undefined && !TOKEN_KEY_USES.includes(route.tokenKeys)) {
    throw new InfraConfigError(
      'routeFunction.invalidTokenKeys',
      `route ${route.id} has tokenKeys ${JSON.stringify(route.tokenKeys)}; ` +
        `use one of ${TOKEN_KEY_USES.join(', ')} or leave it out`,
      { routeId: route.id, tokenKeys: route.tokenKeys },
    );
  }
  if (route.access === 'identified' && route.tokenKeys === undefined) {
    throw new InfraConfigError(
      'routeFunction.identifiedWithoutTokenKeys',
      `route ${route.id} authenticates its callers, so it needs tokenKeys 'verify' to check ` +
        'their tokens',
      { routeId: route.id },
    );
  }
};
