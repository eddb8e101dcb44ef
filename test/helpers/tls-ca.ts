/**
 * A test certificate authority made with `openssl` (SPEC §8: real components): a CA, and
 * certificates it issues for servers (127.0.0.1 and localhost in subjectAltName) and clients.
 * EC P-256 keys by default (quick to make), RSA 2048 on request; every file is PEM in a temp dir.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** Upper-case hex, as X509Certificate.serialNumber and getPeerCertificate() give it. */
  serial: string;
}

export interface TestCa {
  dir: string;
  caFile: string;
  ca: string;
  /** A server certificate for `names` (default 127.0.0.1 and localhost). */
  server(name: string, options?: { names?: string[] }): IssuedCert;
  /** A client certificate (extendedKeyUsage clientAuth). */
  client(name: string): IssuedCert;
  remove(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeTestCa(cn = 'clawbox-reaper test CA', options: { keyType?: 'ec' | 'rsa' } = {}): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'cr-ca-'));
  const ec = options.keyType === 'rsa' ? ['-newkey', 'rsa:2048', '-nodes'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);

  function issue(name: string, extensions: string): IssuedCert {
    // 16 hex digits, the first a 1: positive, and written as X509Certificate writes it.
    const serial = `1${randomBytes(8).toString('hex').slice(1).toUpperCase()}`;
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${serial}`, '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`], dir);
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), serial };
  }

  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    server(name, options = {}) {
      const names = options.names ?? ['127.0.0.1', 'localhost'];
      const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      return issue(name, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n`);
    },
    client(name) {
      return issue(name, `extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n`);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
