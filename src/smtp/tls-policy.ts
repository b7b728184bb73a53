/**
 * TLS options of the trust space, from config `trust.tls` (référentiel #2 of the ANS):
 * TLS 1.2 only with the four ECDHE-RSA suites by default, TLS 1.3 only when `allowTls13` is set;
 * the server's cipher order wins. Both directions present our SERV_SSL certificate (mutual TLS)
 * and do NOT let OpenSSL judge the peer's chain (`rejectUnauthorized: false`): the peer is judged
 * by our own validator (IGC-Santé anchors, CRLs) and the liste blanche, which give a reason that
 * can be named in the SMTP reply and the audit log. Nothing is ever sent before that check passes:
 * the MX refuses MAIL FROM, the deliverer quits before MAIL FROM.
 */
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContext,
  type SecureVersion,
  type TlsOptions,
} from 'node:tls';
import type { Config } from '../config/schema.ts';

export interface TlsPolicy {
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults when allowed). */
  ciphers: string;
  honorCipherOrder: boolean;
}

/** Our certificate (leaf then chain, PEM) and its key. */
export interface TlsIdentity {
  certPem: string;
  keyPem: string;
}

export function tlsPolicy(tls: Pick<Config['trust']['tls'], 'allowTls13' | 'ciphers'>): TlsPolicy {
  return {
    minVersion: 'TLSv1.2',
    maxVersion: tls.allowTls13 ? 'TLSv1.3' : 'TLSv1.2',
    ciphers: tls.ciphers,
    honorCipherOrder: true,
  };
}

/** Options of the MX listener (STARTTLS): our certificate, the policy, and a request for the client's. */
export function mxTlsOptions(
  policy: TlsPolicy,
  identity: TlsIdentity,
): TlsOptions & { requestCert: true; rejectUnauthorized: false } {
  return {
    cert: identity.certPem,
    key: identity.keyPem,
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: policy.ciphers,
    honorCipherOrder: policy.honorCipherOrder,
    // Ask for the client certificate; judge it ourselves after the handshake (see above).
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/**
 * The client side's TLS context: our certificate and the policy, built once (parsing the key and
 * the chain for every connection costs more than the handshake's own signature).
 */
export function clientSecureContext(policy: TlsPolicy, identity: TlsIdentity): SecureContext {
  return createSecureContext({
    cert: identity.certPem,
    key: identity.keyPem,
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: policy.ciphers,
  });
}

/** Options of an outbound STARTTLS (nodemailer's `tls`): our certificate as the client certificate. */
export function clientTlsOptions(
  policy: TlsPolicy,
  identity: TlsIdentity,
  servername?: string,
  secureContext?: SecureContext,
): ConnectionOptions & { rejectUnauthorized: false } {
  return {
    ...(secureContext
      ? { secureContext }
      : {
          cert: identity.certPem,
          key: identity.keyPem,
          minVersion: policy.minVersion,
          maxVersion: policy.maxVersion,
          ciphers: policy.ciphers,
        }),
    rejectUnauthorized: false,
    // SNI needs a host name, never an IP literal.
    ...(servername && !/^[\d.]+$|:/.test(servername) ? { servername } : {}),
  };
}
