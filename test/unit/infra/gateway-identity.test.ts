/**
 * The stack's identity wiring: the token signing key and who may use it, the identity
 * variables of each function, trusted issuers, and the custom domain with mutual TLS. These
 * tests read templates only, so bundling is skipped and each stack builds in well under a second.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES as CATALOG_ROUTES, type RouteDeclaration } from '@shared/catalog/routes';
import { STAGES, type Stage } from '@shared/catalog/stages';
import { STREAMING_ROUTES } from '@shared/catalog/streaming-routes';
import { WEBSOCKET_AUTHORIZER } from '@shared/catalog/websocket-routes';
import type { TrustedIssuerConfig } from '@shared/identity/tokens/trusted-issuers';
import type {
  GatewayCustomDomainSettings,
  GatewayMutualTlsSettings,
} from '@infra/constructs/gateway-domain';
import { GatewayHttpApi } from '@infra/constructs/http-api';
import { tokenSigningKeyAlias } from '@infra/constructs/token-signing-key';
import { DEFAULT_TOKEN_AUDIENCE, GatewayStack, type GatewayStackProps } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import {
  actionsOf,
  environmentOf,
  refusalCode,
  roleOf,
  singleResource,
  statementsOf,
  type PolicyStatement,
} from '@test/unit/infra/template-queries';

const PREVIOUS_KEY_ARN =
  'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OLDER_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef';
const CERTIFICATE_ARN =
  'arn:aws:acm:eu-west-1:123456789012:certificate/0d1c2b3a-4e5f-6a7b-8c9d-0e1f2a3b4c5d';
const DOMAIN: GatewayCustomDomainSettings = {
  domainName: 'api.blux.example',
  certificateArn: CERTIFICATE_ARN,
};
const MTLS: GatewayMutualTlsSettings = {
  truststoreUri: 's3://blux-truststores/dev/truststore.pem',
  truststoreVersion: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
};
const TRUSTED_ISSUER: TrustedIssuerConfig = {
  issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example',
  audience: 'blux-console',
  audienceClaim: 'client_id',
  jwksUri: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example/.well-known/jwks.json',
  algorithms: ['RS256'],
};

/** The catalog's routes, widened to the declaration type so that optional fields can be read. */
const ROUTES: readonly RouteDeclaration[] = CATALOG_ROUTES;

/** The routes that declare `tokenKeys`, which the catalog may add to. */
const KEY_READING_ROUTES = ROUTES.filter((route) => route.tokenKeys !== undefined).map(
  (route) => route.id,
);
/**
 * Functions besides the HTTP routes that verify tokens: each streaming route (SSE) and the
 * WebSocket API's authorizer, which read the public keys and never sign.
 */
const OTHER_KEY_READERS =
  STREAMING_ROUTES.filter((route) => route.tokenKeys === 'verify').length +
  (WEBSOCKET_AUTHORIZER.tokenKeys === 'verify' ? 1 : 0);
/** Written out, so that losing one of these from the catalog has to be confirmed here. */
const REQUIRED_KEY_READERS = ['getHealth', 'getJwks', 'issueToken', 'validateIdentity'];
const KEYLESS_ROUTES = ['getOpenIdConfiguration', 'notFound'];
const SIGNING_ROUTE = 'issueToken';

interface KmsPolicy {
  readonly roles: unknown;
  readonly statements: readonly PolicyStatement[];
}

/** A stack whose functions are not bundled: enough for every question asked of its template. */
const synth = (props: Partial<GatewayStackProps> = {}): Template => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });

  return Template.fromStack(new GatewayStack(app, 'Identity', { stage: 'dev', ...props }));
};

const catalogTemplates = {} as Record<Stage, Template>;

/**
 * A stack builds in a fraction of a second alone, but the other infrastructure files bundle
 * functions on the same two cores meanwhile: the default timeouts would fail on a busy machine.
 */
const SYNTH_TIMEOUT_MS = 60_000;
const TIMEOUT = { timeout: SYNTH_TIMEOUT_MS };

beforeAll(() => {
  for (const stage of STAGES) {
    catalogTemplates[stage] = synth({ stage });
  }
}, SYNTH_TIMEOUT_MS);

const functionName = (routeId: string, stage: Stage = 'dev'): string =>
  gatewayFunctionName(stage, routeId);

const activeKeyOf = (template: Template): string =>
  singleResource(template, 'AWS::KMS::Key', {
    KeyUsage: 'SIGN_VERIFY',
    KeySpec: 'ECC_NIST_P256',
  })[0];

/** Whether a statement names the active token key or one of the previous ones. */
const onTokenKey = (
  template: Template,
  statement: PolicyStatement,
  previousArns: readonly string[],
): boolean =>
  JSON.stringify(statement.Resource).includes(`"${activeKeyOf(template)}"`) ||
  previousArns.some((arn) => JSON.stringify(statement.Resource).includes(arn));

/**
 * Every policy allowing `action` on a token key, with those statements alone. Other keys the
 * stack may come to hold, such as one for the audit trail, are not this file's subject.
 */
const policiesAllowing = (
  template: Template,
  action: string,
  previousArns: readonly string[] = [],
): KmsPolicy[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const statements = (policy.Properties.PolicyDocument.Statement as PolicyStatement[]).filter(
      (statement) =>
        statement.Effect === 'Allow' &&
        actionsOf(statement).includes(action) &&
        onTokenKey(template, statement, previousArns),
    );

    return statements.length === 0 ? [] : [{ roles: policy.Properties.Roles, statements }];
  });

const keyArnOf = (logicalId: string): unknown => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

const apiOf = (template: Template): [string, { Properties: Record<string, unknown> }] =>
  singleResource(template, 'AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });

describe('the token signing key', TIMEOUT, () => {
  it('GIVEN any stage WHEN it synthesizes THEN one P-256 signing key has the stage alias', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const [keyId] = singleResource(template, 'AWS::KMS::Key', {
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
      });

      template.resourceCountIs('AWS::KMS::Key', 1);
      template.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: `alias/blux-${stage}-token-signing`,
        TargetKeyId: keyArnOf(keyId),
      });
      expect(tokenSigningKeyAlias(stage)).toBe(`alias/blux-${stage}-token-signing`);
    }
  });

  it('GIVEN the three stages WHEN they synthesize THEN only dev may delete the key', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const key = template.toJSON().Resources[activeKeyOf(template)];

      expect(key.DeletionPolicy, stage).toBe(stage === 'dev' ? 'Delete' : 'Retain');
      expect(key.UpdateReplacePolicy, stage).toBe(stage === 'dev' ? 'Delete' : 'Retain');
    }
  });

  it('GIVEN the stack WHEN it synthesizes THEN it outputs the active key for rotation', () => {
    const template = catalogTemplates.prod;

    template.hasOutput('TokenSigningKeyArn', { Value: keyArnOf(activeKeyOf(template)) });
  });
});

describe('token key grants', TIMEOUT, () => {
  it('GIVEN any stage WHEN it synthesizes THEN kms:Sign is in one policy, the token role', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const signing = policiesAllowing(template, 'kms:Sign');

      expect(signing, stage).toHaveLength(1);
      expect(signing[0]?.roles, stage).toEqual([
        { Ref: roleOf(template, functionName(SIGNING_ROUTE, stage)) },
      ]);
      expect(signing[0]?.statements.map((statement) => statement.Resource)).toEqual([
        keyArnOf(activeKeyOf(template)),
      ]);
    }
  });

  it('GIVEN the catalog WHEN it is read THEN only the token endpoint signs', () => {
    const signing = ROUTES.filter((route) => route.tokenKeys === 'sign').map((route) => route.id);

    expect(signing).toEqual([SIGNING_ROUTE]);
    expect(KEY_READING_ROUTES).toEqual(expect.arrayContaining(REQUIRED_KEY_READERS));
    for (const id of KEYLESS_ROUTES) {
      expect(KEY_READING_ROUTES, id).not.toContain(id);
    }
  });

  it('GIVEN the catalog WHEN dev synthesizes THEN GetPublicKey goes to key-reading roles', () => {
    const template = catalogTemplates.dev;
    const readers = policiesAllowing(template, 'kms:GetPublicKey').flatMap(
      (policy) => policy.roles,
    );
    const expected = KEY_READING_ROUTES.map((id) => ({ Ref: roleOf(template, functionName(id)) }));

    expect(readers).toHaveLength(KEY_READING_ROUTES.length + OTHER_KEY_READERS);
    expect(readers).toEqual(expect.arrayContaining(expected));
  });

  it('GIVEN the public routes WHEN dev synthesizes THEN their roles get no KMS action', () => {
    const template = catalogTemplates.dev;

    for (const id of KEYLESS_ROUTES) {
      const actions = statementsOf(template, functionName(id)).flatMap(actionsOf);

      expect(actions.length, id).toBeGreaterThan(0);
      expect(
        actions.filter((action) => action.startsWith('kms:')),
        id,
      ).toEqual([]);
    }
  });

  it('GIVEN routes without tokenKeys WHEN dev synthesizes THEN none may use a token key', () => {
    const template = catalogTemplates.dev;
    const withoutKeys = ROUTES.filter((route) => route.tokenKeys === undefined);

    expect(withoutKeys.length).toBeGreaterThanOrEqual(KEYLESS_ROUTES.length);
    for (const route of withoutKeys) {
      const statements = statementsOf(template, functionName(route.id));

      expect(
        statements.filter((statement) => onTokenKey(template, statement, [])),
        route.id,
      ).toEqual([]);
    }
  });

  it('GIVEN a previous key WHEN the stack builds THEN it is readable, never used to sign', () => {
    const template = synth({ previousTokenKeyArns: [PREVIOUS_KEY_ARN, OLDER_KEY_ARN] });
    const activeArn = keyArnOf(activeKeyOf(template));
    const previous = [PREVIOUS_KEY_ARN, OLDER_KEY_ARN];
    const readResources = policiesAllowing(template, 'kms:GetPublicKey', previous).flatMap(
      (policy) => policy.statements.map((statement) => statement.Resource),
    );
    const signResources = policiesAllowing(template, 'kms:Sign', previous).flatMap((policy) =>
      policy.statements.map((statement) => statement.Resource),
    );

    const readers = KEY_READING_ROUTES.length + OTHER_KEY_READERS;

    // Each key-reading role reads three keys: the active one and both previous ones.
    expect(readResources).toHaveLength(3 * readers);
    expect(readResources.filter((resource) => resource === PREVIOUS_KEY_ARN)).toHaveLength(readers);
    expect(readResources.filter((resource) => resource === OLDER_KEY_ARN)).toHaveLength(readers);
    expect(signResources).toEqual([activeArn]);
  });

  it('GIVEN any stage WHEN it synthesizes THEN token keys get a read per reader, one sign', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const policies = Object.values(template.findResources('AWS::IAM::Policy'));
      const actions = policies
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[])
        .filter((statement) => onTokenKey(template, statement, []))
        .flatMap(actionsOf);

      expect(actions.sort(), stage).toEqual(
        [
          ...Array.from(
            { length: KEY_READING_ROUTES.length + OTHER_KEY_READERS },
            () => 'kms:GetPublicKey',
          ),
          'kms:Sign',
        ].sort(),
      );
    }
  });
});

describe('token key rotation', TIMEOUT, () => {
  it('GIVEN generation 2 WHEN the stack builds THEN a new key takes over the same alias', () => {
    const first = catalogTemplates.dev;
    const second = synth({ tokenKeyGeneration: 2, previousTokenKeyArns: [PREVIOUS_KEY_ARN] });
    const [firstAlias] = singleResource(first, 'AWS::KMS::Alias', {});
    const [secondAlias, alias] = singleResource(second, 'AWS::KMS::Alias', {});

    expect(activeKeyOf(second)).not.toBe(activeKeyOf(first));
    expect(secondAlias).toBe(firstAlias);
    expect(alias.Properties.TargetKeyId).toEqual(keyArnOf(activeKeyOf(second)));
  });

  it('GIVEN previous keys WHEN the stack builds THEN the key ids list the active first', () => {
    const template = synth({ previousTokenKeyArns: [PREVIOUS_KEY_ARN, OLDER_KEY_ARN] });
    const expected = {
      'Fn::Join': ['', [keyArnOf(activeKeyOf(template)), `,${PREVIOUS_KEY_ARN},${OLDER_KEY_ARN}`]],
    };

    for (const id of KEY_READING_ROUTES) {
      expect(environmentOf(template, functionName(id)).TOKEN_KMS_KEY_IDS, id).toEqual(expected);
    }
  });

  it.each([
    ['an alias ARN', ['arn:aws:kms:eu-west-1:123456789012:alias/blux-dev-token-signing']],
    ['a bare key id', ['1234abcd-12ab-34cd-56ef-1234567890ab']],
    ['an ARN of another service', [CERTIFICATE_ARN]],
  ])('GIVEN %s as a previous key WHEN the stack builds THEN it is refused', (_name, arns) => {
    expect(refusalCode(() => synth({ previousTokenKeyArns: arns }))).toBe(
      'tokenSigningKey.invalidPreviousKeyArn',
    );
  });

  it('GIVEN a previous key listed twice WHEN the stack builds THEN it is refused', () => {
    const build = (): Template =>
      synth({ previousTokenKeyArns: [PREVIOUS_KEY_ARN, PREVIOUS_KEY_ARN] });

    expect(refusalCode(build)).toBe('tokenSigningKey.duplicatePreviousKeyArn');
  });

  it.each([0, -1, 1.5])('GIVEN key generation %s WHEN the stack builds THEN it is refused', (n) => {
    expect(refusalCode(() => synth({ tokenKeyGeneration: n }))).toBe(
      'tokenSigningKey.invalidGeneration',
    );
  });
});

describe('identity variables of the route functions', TIMEOUT, () => {
  it('GIVEN any stage WHEN it synthesizes THEN each route knows the issuer and audience', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const [apiId] = apiOf(template);

      for (const route of ROUTES) {
        expect(environmentOf(template, functionName(route.id, stage)), route.id).toMatchObject({
          BLUX_ISSUER: { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] },
          BLUX_AUDIENCE: DEFAULT_TOKEN_AUDIENCE,
        });
      }
      template.hasOutput('TokenIssuer', { Value: { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] } });
    }
  });

  it('GIVEN the catalog WHEN dev synthesizes THEN only key-reading routes get the key ids', () => {
    const template = catalogTemplates.dev;
    const keyArn = keyArnOf(activeKeyOf(template));

    for (const route of ROUTES) {
      const variables = environmentOf(template, functionName(route.id));
      const reads = KEY_READING_ROUTES.includes(route.id);

      expect(variables.TOKEN_KMS_KEY_IDS, route.id).toEqual(reads ? keyArn : undefined);
    }
    expect(environmentOf(template, functionName('notFound')).TOKEN_KMS_KEY_IDS).toBeUndefined();
    expect(
      environmentOf(template, functionName('getOpenIdConfiguration')).TOKEN_KMS_KEY_IDS,
    ).toBeUndefined();
  });

  it('GIVEN no trusted issuers WHEN dev synthesizes THEN no function has the variable', () => {
    for (const route of ROUTES) {
      const variables = environmentOf(catalogTemplates.dev, functionName(route.id));

      expect(variables.BLUX_TRUSTED_ISSUERS, route.id).toBeUndefined();
    }
  });

  it('GIVEN a trusted issuer WHEN the stack builds THEN routes that authenticate get it', () => {
    const template = synth({ trustedIssuers: [TRUSTED_ISSUER] });

    for (const route of ROUTES) {
      const variables = environmentOf(template, functionName(route.id));
      const expected = route.access === 'identified' ? [TRUSTED_ISSUER] : undefined;
      const value = variables.BLUX_TRUSTED_ISSUERS;

      expect(value === undefined ? undefined : JSON.parse(String(value)), route.id).toEqual(
        expected,
      );
    }
    expect(
      ROUTES.filter((route) => route.access === 'identified').map((route) => route.id),
    ).toContain('validateIdentity');
  });

  it.each<[string, unknown]>([
    ['an http JWKS URI', { ...TRUSTED_ISSUER, jwksUri: 'http://issuer.example/jwks.json' }],
    ['the HS256 algorithm', { ...TRUSTED_ISSUER, algorithms: ['HS256'] }],
    ['an unknown field', { ...TRUSTED_ISSUER, scopes: 'all' }],
  ])('GIVEN a trusted issuer with %s WHEN the stack builds THEN synth fails', (_name, issuer) => {
    const build = (): Template => synth({ trustedIssuers: [issuer as TrustedIssuerConfig] });

    expect(refusalCode(build)).toBe('gatewayStack.invalidTrustedIssuers');
  });

  it('GIVEN the same trusted issuer twice WHEN the stack builds THEN synth fails', () => {
    const build = (): Template => synth({ trustedIssuers: [TRUSTED_ISSUER, TRUSTED_ISSUER] });

    expect(refusalCode(build)).toBe('gatewayStack.invalidTrustedIssuers');
  });

  it('GIVEN an audience prop WHEN the stack builds THEN every route uses it', () => {
    const template = synth({ tokenAudience: 'blux-partner-api' });

    for (const route of ROUTES) {
      expect(environmentOf(template, functionName(route.id)).BLUX_AUDIENCE, route.id).toBe(
        'blux-partner-api',
      );
    }
    expect(refusalCode(() => synth({ tokenAudience: '' }))).toBe(
      'gatewayStack.invalidTokenAudience',
    );
    expect(refusalCode(() => synth({ tokenAudience: 'blux api' }))).toBe(
      'gatewayStack.invalidTokenAudience',
    );
  });
});

describe('route declarations and the token keys', TIMEOUT, () => {
  const route = (overrides: Partial<RouteDeclaration>): RouteDeclaration => ({
    ...CATALOG_ROUTES[0],
    id: 'probe',
    path: '/probe',
    ...overrides,
  });

  it('GIVEN two routes that sign WHEN the stack builds THEN it is refused', () => {
    const routes = [...ROUTES, route({ access: 'client', tokenKeys: 'sign' })];

    expect(refusalCode(() => synth({ routes }))).toBe('gatewayStack.multipleSigningRoutes');
  });

  it('GIVEN an identified route without tokenKeys WHEN it builds THEN it is refused', () => {
    const routes = [
      ...ROUTES,
      route({ access: 'identified', scopes: ['identities:validate'], tokenKeys: undefined }),
    ];

    expect(refusalCode(() => synth({ routes }))).toBe('routeFunction.identifiedWithoutTokenKeys');
  });

  it('GIVEN an unknown tokenKeys value WHEN the route builds THEN it is refused', () => {
    const probe = route({ tokenKeys: 'encrypt' as RouteDeclaration['tokenKeys'] });

    expect(refusalCode(() => synth({ routes: [...ROUTES, probe] }))).toBe(
      'routeFunction.invalidTokenKeys',
    );
  });

  it('GIVEN routes with no signing route WHEN the stack builds THEN no role may sign', () => {
    const template = synth({
      routes: ROUTES.filter((candidate) => candidate.tokenKeys !== 'sign'),
    });

    expect(policiesAllowing(template, 'kms:Sign')).toEqual([]);
    expect(policiesAllowing(template, 'kms:GetPublicKey')).toHaveLength(
      KEY_READING_ROUTES.length - 1 + OTHER_KEY_READERS,
    );
  });
});

describe('the custom domain', TIMEOUT, () => {
  it('GIVEN no custom domain WHEN any stage synthesizes THEN execute-api is the way in', () => {
    for (const stage of STAGES) {
      const template = catalogTemplates[stage];
      const [, api] = apiOf(template);

      template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
      template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
      expect(api.Properties.DisableExecuteApiEndpoint, stage).not.toBe(true);
      expect(Object.keys(template.findOutputs('CustomDomainTarget')), stage).toEqual([]);
    }
  });

  it('GIVEN a domain with mTLS WHEN the stack builds THEN callers must pass the truststore', () => {
    const template = synth({ customDomain: { ...DOMAIN, mtls: MTLS } });
    const [apiId, api] = apiOf(template);
    const [domainId] = singleResource(template, 'AWS::ApiGatewayV2::DomainName', {
      DomainName: DOMAIN.domainName,
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ],
      MutualTlsAuthentication: {
        TruststoreUri: MTLS.truststoreUri,
        TruststoreVersion: MTLS.truststoreVersion,
      },
    });
    const [stageId] = singleResource(template, 'AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
    });

    expect(api.Properties.DisableExecuteApiEndpoint).toBe(true);
    // The root path maps to the $default stage, created before the mapping that names it.
    template.hasResource('AWS::ApiGatewayV2::ApiMapping', {
      Properties: {
        ApiId: { Ref: apiId },
        DomainName: { Ref: domainId },
        Stage: '$default',
        ApiMappingKey: Match.absent(),
      },
      DependsOn: Match.arrayWith([stageId]),
    });
    template.hasOutput('CustomDomainTarget', {
      Value: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] },
    });
    template.hasOutput('CustomDomainHostedZoneId', {
      Value: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] },
    });
  });

  it('GIVEN a custom domain WHEN the stack builds THEN tokens are issued by that domain', () => {
    const template = synth({ customDomain: { ...DOMAIN, mtls: MTLS } });

    for (const route of ROUTES) {
      expect(environmentOf(template, functionName(route.id)).BLUX_ISSUER, route.id).toBe(
        'https://api.blux.example',
      );
    }
    template.hasOutput('TokenIssuer', { Value: 'https://api.blux.example' });
    template.hasOutput('ApiUrl', { Value: 'https://api.blux.example/' });
  });

  it('GIVEN a domain without mTLS WHEN the stack builds THEN execute-api stays enabled', () => {
    const template = synth({ customDomain: DOMAIN });
    const [, api] = apiOf(template);
    const [, domain] = singleResource(template, 'AWS::ApiGatewayV2::DomainName', {
      DomainName: DOMAIN.domainName,
    });

    expect(domain.Properties.MutualTlsAuthentication).toBeUndefined();
    expect(api.Properties.DisableExecuteApiEndpoint).not.toBe(true);
    // The HTTP API at the root, and each streaming route's REST API at its own path.
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1 + STREAMING_ROUTES.length);
  });

  it('GIVEN an unpinned truststore WHEN the stack builds THEN it reads the latest version', () => {
    const template = synth({
      customDomain: { ...DOMAIN, mtls: { truststoreUri: MTLS.truststoreUri } },
    });

    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      MutualTlsAuthentication: {
        TruststoreUri: MTLS.truststoreUri,
        TruststoreVersion: Match.absent(),
      },
    });
  });
});

describe('custom domain refusals', TIMEOUT, () => {
  /** The API alone, with one imported handler: refusals come before anything is bundled. */
  const buildApi = (customDomain: GatewayCustomDomainSettings, region?: string): void => {
    const stack = new Stack(new App(), 'Domain', region === undefined ? {} : { env: { region } });
    const handler = LambdaFunction.fromFunctionArn(
      stack,
      'Handler',
      'arn:aws:lambda:eu-west-1:123456789012:function:blux-dev-get-health',
    );
    new GatewayHttpApi(stack, 'Api', {
      stage: 'dev',
      routes: [{ declaration: CATALOG_ROUTES[0], handler }],
      customDomain,
    });
  };

  it.each([
    'API.blux.example',
    '*.blux.example',
    'https://api.blux.example',
    'api.blux.example.',
    'api.blux.example/v1',
    'localhost',
    'api..blux.example',
    '-api.blux.example',
    `${'a'.repeat(64)}.blux.example`,
  ])('GIVEN domain %j WHEN the API builds THEN invalidDomainName', (domainName) => {
    expect(refusalCode(() => buildApi({ ...DOMAIN, domainName }))).toBe(
      'gatewayDomain.invalidDomainName',
    );
  });

  it.each([
    'arn:aws:iam::123456789012:server-certificate/blux',
    'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:acm:eu-west-1:123456789012:private-ca/blux',
    '0d1c2b3a-4e5f-6a7b-8c9d-0e1f2a3b4c5d',
  ])('GIVEN certificate %j WHEN the API builds THEN invalidCertificateArn', (certificateArn) => {
    expect(refusalCode(() => buildApi({ ...DOMAIN, certificateArn }))).toBe(
      'gatewayDomain.invalidCertificateArn',
    );
  });

  it('GIVEN a certificate of another region WHEN a stack there builds THEN it is refused', () => {
    expect(refusalCode(() => buildApi(DOMAIN, 'us-east-1'))).toBe(
      'gatewayDomain.certificateInAnotherRegion',
    );
    expect(refusalCode(() => buildApi(DOMAIN, 'eu-west-1'))).toBeUndefined();
  });

  it.each([
    'https://blux-truststores/truststore.pem',
    's3://blux-truststores',
    's3://blux-truststores/',
    's3://blux-truststores/certs/',
    's3://Blux_Truststores/truststore.pem',
    's3://blux..truststores/truststore.pem',
    'blux-truststores/truststore.pem',
  ])('GIVEN truststore %j WHEN the API builds THEN invalidTruststoreUri', (truststoreUri) => {
    expect(refusalCode(() => buildApi({ ...DOMAIN, mtls: { truststoreUri } }))).toBe(
      'gatewayDomain.invalidTruststoreUri',
    );
  });

  it.each(['', 'two words'])('GIVEN truststore version %j WHEN built THEN refused', (version) => {
    const mtls = { truststoreUri: MTLS.truststoreUri, truststoreVersion: version };

    expect(refusalCode(() => buildApi({ ...DOMAIN, mtls }))).toBe(
      'gatewayDomain.invalidTruststoreVersion',
    );
  });

  it('GIVEN valid settings WHEN the API builds THEN nothing is refused', () => {
    expect(refusalCode(() => buildApi({ ...DOMAIN, mtls: MTLS }))).toBeUndefined();
  });
});
