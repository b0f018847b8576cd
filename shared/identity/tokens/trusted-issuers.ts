/**
 * Other issuers whose user tokens the gateway accepts, such as a Cognito user pool or a
 * company's OIDC provider. Each one is configured explicitly, with the algorithms it signs
 * with: a token never chooses how it is checked. The list comes from `BLUX_TRUSTED_ISSUERS`,
 * a JSON array, and a mistake in it stops the gateway at start rather than at the first token.
 */
import { ConfigurationError } from '@shared/config';
import { z } from '@shared/validation/schema';

/** The asymmetric algorithms a trusted issuer may sign with; HMAC and `none` never. */
export const TRUSTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'] as const;

export type TrustedAlgorithm = (typeof TRUSTED_ALGORITHMS)[number];

export interface TrustedIssuerConfig {
  /** The exact `iss` of the issuer's tokens. */
  readonly issuer: string;
  /** The audience the tokens must name; one of several is enough. */
  readonly audience: string | readonly string[];
  /**
   * The claim that names the audience: `aud` (the default) or `client_id`, for issuers such as
   * Cognito whose access tokens carry no `aud`.
   */
  readonly audienceClaim?: 'aud' | 'client_id';
  /** Where the issuer publishes its keys; https, or http on a loopback address only. */
  readonly jwksUri: string;
  readonly algorithms: readonly TrustedAlgorithm[];
  /** The claim that holds the scopes: `scope` (the default, a string) or `scp`. */
  readonly scopeClaim?: 'scope' | 'scp';
  /** When set, the `typ` header the tokens must carry (compared without case). */
  readonly requireTyp?: string;
}

export const TRUSTED_ISSUERS_VARIABLE = 'BLUX_TRUSTED_ISSUERS';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Keys fetched over plain http could be swapped on the way; only a loopback hop is exempt. */
const isAllowedJwksUri = (value: string): boolean => {
  if (!URL.canParse(value)) {
    return false;
  }
  const url = new URL(value);

  return (
    url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
  );
};

const nonEmpty = z.string().min(1);

const trustedIssuerSchema = z.strictObject({
  issuer: nonEmpty,
  audience: z.union([nonEmpty, z.array(nonEmpty).min(1)]),
  audienceClaim: z.enum(['aud', 'client_id']).optional(),
  jwksUri: z.string().refine(isAllowedJwksUri, {
    message: 'must be an https URL (http only on 127.0.0.1, [::1] or localhost)',
  }),
  algorithms: z.array(z.enum(TRUSTED_ALGORITHMS)).min(1),
  scopeClaim: z.enum(['scope', 'scp']).optional(),
  requireTyp: nonEmpty.optional(),
});

const trustedIssuersSchema = z.array(trustedIssuerSchema).superRefine((issuers, context) => {
  const seen = new Set<string>();
  issuers.forEach(({ issuer }, index) => {
    if (seen.has(issuer)) {
      context.addIssue({ code: 'custom', path: [index, 'issuer'], message: 'appears twice' });
    }
    seen.add(issuer);
  });
});

const describeIssues = (error: z.ZodError): string =>
  error.issues.map((issue) => `[${issue.path.join('.')}] ${issue.message}`).join('; ');

/** Checks trusted issuer configurations, however they were obtained. */
export const checkTrustedIssuers = (
  value: unknown,
  source = 'trusted issuers',
): TrustedIssuerConfig[] => {
  const result = trustedIssuersSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigurationError(
      `config.invalidTrustedIssuers: ${source} is invalid: ${describeIssues(result.error)}`,
    );
  }

  return result.data;
};

/**
 * Parses the `BLUX_TRUSTED_ISSUERS` value: a JSON array of issuer configurations. Unset or
 * blank means no trusted issuer; anything malformed throws a `ConfigurationError` naming the
 * offending entry and field.
 */
export const parseTrustedIssuers = (json: string | undefined): TrustedIssuerConfig[] => {
  if (json === undefined || json.trim() === '') {
    return [];
  }

  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ConfigurationError(
      `config.invalidTrustedIssuers: ${TRUSTED_ISSUERS_VARIABLE} is not valid JSON`,
    );
  }

  return checkTrustedIssuers(value, TRUSTED_ISSUERS_VARIABLE);
};
