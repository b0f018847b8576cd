/**
 * The gateway's custom domain: an API Gateway domain name with its ACM certificate, mapped to
 * the HTTP API's `$default` stage, and with `mtls` a truststore in S3 against which API Gateway
 * checks every caller's client certificate during the TLS handshake, before any route runs.
 *
 * API Gateway checks client certificates on a custom domain only, never on the API's own
 * execute-api endpoint; with mutual TLS on, `GatewayHttpApi` therefore disables that endpoint,
 * or a caller could reach every route around the check.
 */
import { Stack, Token } from 'aws-cdk-lib';
import {
  ApiMapping,
  DomainName,
  EndpointType,
  SecurityPolicy,
  type IHttpApi,
  type IHttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { InfraConfigError } from '@infra/infra-error';

/** Mutual TLS on the custom domain. */
export interface GatewayMutualTlsSettings {
  /**
   * The truststore, `s3://<bucket>/<key>`: a PEM file of the CA certificates that issue the
   * clients' certificates. The bucket belongs to no stack of the gateway; whoever deploys needs
   * `s3:GetObject` on the object, which API Gateway reads when the domain is created or updated.
   */
  readonly truststoreUri: string;
  /**
   * The S3 version of the truststore object, from a versioned bucket. Pinning it means a new CA
   * takes effect with a deploy rather than whenever API Gateway next reads the object.
   *
   * @default - the object's latest version
   */
  readonly truststoreVersion?: string;
}

/** A custom domain in front of the gateway's HTTP API. */
export interface GatewayCustomDomainSettings {
  /**
   * The host name callers use, such as `api.blux.example`: lowercase, without a wildcard or a
   * trailing dot. The gateway's tokens name `https://<domainName>` as their issuer.
   */
  readonly domainName: string;
  /**
   * The ARN of the ACM certificate for `domainName`, in the stack's region (the endpoint is
   * regional). With mutual TLS, an imported or private CA certificate also needs an ownership
   * certificate, which this construct does not set up: use one ACM issued.
   */
  readonly certificateArn: string;
  /**
   * Mutual TLS: callers must present a client certificate the truststore vouches for.
   *
   * @default - no mutual TLS; callers authenticate with tokens only
   */
  readonly mtls?: GatewayMutualTlsSettings;
}

/** Props of `GatewayDomain`. */
export interface GatewayDomainProps extends GatewayCustomDomainSettings {
  /** The API the domain serves. */
  readonly httpApi: IHttpApi;
  /** The stage the domain's root path maps to: the API's `$default` stage. */
  readonly stage: IHttpStage;
}

const DOMAIN_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const TOP_LEVEL_LABEL = '[a-z](?:[a-z0-9-]{0,61}[a-z0-9])';
const DOMAIN_NAME_PATTERN = new RegExp(`^(?:${DOMAIN_LABEL}\\.)+${TOP_LEVEL_LABEL}$`);
const MAX_DOMAIN_NAME_CHARS = 253;

const ACM_CERTIFICATE_ARN_PATTERN =
  /^arn:aws(?:-[a-z]+)*:acm:([a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:certificate\/[A-Za-z0-9-]+$/;

/** `s3://<bucket>/<key>`, where the key names an object, not a folder. */
const TRUSTSTORE_URI_PATTERN = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*[^/])$/;
const MAX_TRUSTSTORE_VERSION_CHARS = 1024;

/** A truststore URI taken apart, the way `DomainName` wants it. */
export interface TruststoreLocation {
  readonly bucketName: string;
  readonly key: string;
}

/** The domain name, its API mapping and, with `mtls`, its truststore; built valid or refused. */
export class GatewayDomain extends Construct {
  readonly domainName: DomainName;
  readonly apiMapping: ApiMapping;
  /** `https://<domainName>`, without a trailing slash: the gateway's issuer behind this domain. */
  readonly baseUrl: string;
  /** Whether API Gateway demands a client certificate on this domain. */
  readonly mutualTls: boolean;

  constructor(scope: Construct, id: string, props: GatewayDomainProps) {
    super(scope, id);

    const truststore = assertValidCustomDomain(this, props);
    this.mutualTls = truststore !== undefined;

    this.domainName = new DomainName(this, 'DomainName', {
      domainName: props.domainName,
      certificate: Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
      endpointType: EndpointType.REGIONAL,
      securityPolicy: SecurityPolicy.TLS_1_2,
      mtls:
        truststore === undefined
          ? undefined
          : {
              bucket: Bucket.fromBucketName(this, 'Truststore', truststore.bucketName),
              key: truststore.key,
              version: props.mtls?.truststoreVersion,
            },
    });
    this.apiMapping = new ApiMapping(this, 'Mapping', {
      api: props.httpApi,
      domainName: this.domainName,
      stage: props.stage,
    });
    this.baseUrl = `https://${props.domainName}`;
  }
}

/**
 * Checks the settings of a custom domain before anything is built from them. A domain name or
 * certificate ARN that is a token (a parameter, an import) is left to CloudFormation; the
 * truststore URI must be literal, since its bucket and key are taken apart here.
 *
 * @returns where the truststore lives, or undefined without mutual TLS
 * @throws InfraConfigError `gatewayDomain.*` naming the setting that is wrong
 */
export const assertValidCustomDomain = (
  scope: Construct,
  settings: GatewayCustomDomainSettings,
): TruststoreLocation | undefined => {
  assertValidDomainName(settings.domainName);
  assertValidCertificateArn(scope, settings.certificateArn);

  return settings.mtls === undefined ? undefined : parseTruststore(settings.mtls);
};

const isLiteral = (value: string): boolean => !Token.isUnresolved(value);

const assertValidDomainName = (domainName: string): void => {
  const valid = domainName.length <= MAX_DOMAIN_NAME_CHARS && DOMAIN_NAME_PATTERN.test(domainName);
  if (isLiteral(domainName) && !valid) {
    throw new InfraConfigError(
      'gatewayDomain.invalidDomainName',
      `custom domain ${JSON.stringify(domainName)} is not a lowercase host name such as ` +
        'api.blux.example (no wildcard, no trailing dot, no scheme or path)',
      { domainName },
    );
  }
};

const assertValidCertificateArn = (scope: Construct, certificateArn: string): void => {
  if (!isLiteral(certificateArn)) {
    return;
  }
  const match = ACM_CERTIFICATE_ARN_PATTERN.exec(certificateArn);
  if (match === null) {
    throw new InfraConfigError(
      'gatewayDomain.invalidCertificateArn',
      `${JSON.stringify(certificateArn)} is not an ACM certificate ARN ` +
        '(arn:aws:acm:<region>:<account>:certificate/<id>)',
      { certificateArn },
    );
  }

  // A regional endpoint serves only a certificate of its own region. An environment-agnostic
  // stack learns its region at deploy, and CloudFormation refuses the mismatch there.
  const certificateRegion = match[1];
  const stackRegion = Stack.of(scope).region;
  if (isLiteral(stackRegion) && certificateRegion !== stackRegion) {
    throw new InfraConfigError(
      'gatewayDomain.certificateInAnotherRegion',
      `certificate ${certificateArn} is in ${certificateRegion}, the stack in ${stackRegion}; ` +
        'a regional custom domain needs a certificate of its own region',
      { certificateArn, stackRegion },
    );
  }
};

const parseTruststore = (mtls: GatewayMutualTlsSettings): TruststoreLocation => {
  const { truststoreUri, truststoreVersion } = mtls;
  const match = TRUSTSTORE_URI_PATTERN.exec(truststoreUri);
  const bucketName = match?.[1];
  const key = match?.[2];
  // S3 allows no two dots in a row in a bucket name; the pattern alone would let them pass.
  if (bucketName === undefined || key === undefined || bucketName.includes('..')) {
    throw new InfraConfigError(
      'gatewayDomain.invalidTruststoreUri',
      `truststore ${JSON.stringify(truststoreUri)} is not s3://<bucket>/<key> naming an object`,
      { truststoreUri },
    );
  }
  const validVersion =
    truststoreVersion === undefined ||
    (/^\S+$/.test(truststoreVersion) && truststoreVersion.length <= MAX_TRUSTSTORE_VERSION_CHARS);
  if (!validVersion) {
    throw new InfraConfigError(
      'gatewayDomain.invalidTruststoreVersion',
      `truststore version ${JSON.stringify(truststoreVersion)} is not an S3 version id`,
      { truststoreVersion },
    );
  }

  return { bucketName, key };
};
