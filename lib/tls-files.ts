/**
 * Reads and checks the PEM files of the agent channel's TLS (SPEC §4, Transport), for both sides:
 * the agent's certificate, key and client CA; the control plane's CA bundle for agents and its
 * client certificate. Every problem is said with the setting that named the file, at start (and
 * on the agent's SIGHUP reload), never as a handshake failure later.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';

export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readText(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TlsFileError(`${setting} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The certificates of a PEM file (one or more, in order), each parsed; refuses a file with none. */
export function readCertificates(path: string, setting: string): { pem: string; certificates: X509Certificate[] } {
  const pem = readText(path, setting);
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsFileError(`${setting} ${path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const certificates = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsFileError(`${setting} ${path}: certificate ${i + 1} cannot be parsed (${(error as Error).message})`);
    }
  });
  return { pem, certificates };
}

function readKey(path: string, setting: string): { pem: string; key: KeyObject } {
  const pem = readText(path, setting);
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch (error) {
    throw new TlsFileError(`${setting} ${path}: holds no usable PEM private key (${(error as Error).message}); an encrypted key is not supported`);
  }
}

export interface CertAndKey {
  cert: string;
  key: string;
  /** The leaf certificate (the first in the file), for log lines. */
  leaf: { subject: string; serialNumber: string; validTo: string; fingerprint256: string };
}

/**
 * A certificate (chain) and its private key, checked to belong together and to make a TLS
 * context. `settings` names them in messages, e.g. `{ cert: '--tls-cert', key: '--tls-key' }`.
 */
export function readCertAndKey(files: { cert: string; key: string }, settings: { cert: string; key: string }): CertAndKey {
  const { pem: cert, certificates } = readCertificates(files.cert, settings.cert);
  const { pem: key, key: keyObject } = readKey(files.key, settings.key);
  const leaf = certificates[0] as X509Certificate;
  if (!leaf.checkPrivateKey(keyObject)) {
    throw new TlsFileError(`${settings.key} ${files.key} does not match the certificate in ${settings.cert} ${files.cert} (the key is another certificate's)`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFileError(`${settings.cert} ${files.cert} with ${settings.key} ${files.key}: not usable for TLS (${(error as Error).message})`);
  }
  return { cert, key, leaf: { subject: leaf.subject.replace(/\n/g, ', '), serialNumber: leaf.serialNumber, validTo: leaf.validTo, fingerprint256: leaf.fingerprint256 } };
}
