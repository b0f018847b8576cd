/**
 * The local runtime's answer to API Gateway's mutual TLS: the certificate a client presented
 * on the HTTPS listener, in the shape API Gateway puts in `requestContext.authentication`.
 */
import { X509Certificate } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import type { APIGatewayEventClientCertificate } from 'aws-lambda';

/**
 * A distinguished name in RFC 4514 order (most specific first, comma-separated), the form the
 * client registry stores certificate subjects in: `CN=billing,O=BLUX,C=DE`.
 */
export const distinguishedName = (lines: string): string =>
  lines
    .split('\n')
    .filter((line) => line !== '')
    .reverse()
    .join(',');

const toPem = (der: Buffer): string => {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');

  return `-----BEGIN CERTIFICATE-----\n${body.trimEnd()}\n-----END CERTIFICATE-----\n`;
};

export const describeCertificate = (der: Buffer): APIGatewayEventClientCertificate => {
  const certificate = new X509Certificate(der);

  return {
    clientCertPem: toPem(der),
    subjectDN: distinguishedName(certificate.subject),
    issuerDN: distinguishedName(certificate.issuer),
    serialNumber: certificate.serialNumber,
    validity: {
      notBefore: new Date(certificate.validFrom).toISOString(),
      notAfter: new Date(certificate.validTo).toISOString(),
    },
  };
};

export type PeerCertificateCheck =
  | { readonly kind: 'none' }
  | { readonly kind: 'verified'; readonly certificate: APIGatewayEventClientCertificate }
  | { readonly kind: 'refused'; readonly reason: string };

/** What the client on this socket proved: nothing (plain HTTP), a verified certificate, or not. */
export const checkPeerCertificate = (socket: unknown): PeerCertificateCheck => {
  if (!(socket instanceof TLSSocket)) {
    return { kind: 'none' };
  }
  const peer = socket.getPeerCertificate();
  if (peer === null || peer.raw === undefined) {
    return { kind: 'refused', reason: 'certificate_required' };
  }
  if (!socket.authorized) {
    return {
      kind: 'refused',
      reason: String(socket.authorizationError ?? 'untrusted_certificate'),
    };
  }

  return { kind: 'verified', certificate: describeCertificate(peer.raw) };
};
