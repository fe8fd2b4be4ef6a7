/**
 * Throw-away certificates made by openssl when a test needs them, so no private key is ever
 * committed: a lab CA with a server certificate for localhost / 127.0.0.1 and a client
 * certificate, and a second, unrelated CA with a server certificate of its own (for "the wrong CA").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Issued by the same CA, for TLS client authentication. */
  clientCert: string;
  clientKey: string;
  /** Another CA, which issued nothing the lab trusts. */
  otherCaCert: string;
  /** A server certificate for localhost / 127.0.0.1 issued by the other CA. */
  otherServerCert: string;
  otherServerKey: string;
  /** Holds ca.pem, server.pem, server.key, client.pem, client.key, other-ca.pem, other-server.pem, other-server.key. */
  dir: string;
}

let cached: TestPki | undefined;

export function testPki(): TestPki {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-pki-'));
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string, cn: string): void => ssl('req', '-x509', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=${cn}`);
  const issue = (name: string, caName: string, cn: string, ext: string): void => {
    ssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    fs.writeFileSync(f(`${name}.cnf`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.pem`), '-CAkey', f(`${caName}.key`), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.cnf`));
  };
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n';
  ca('ca', 'labwire test CA');
  issue('server', 'ca', 'localhost', serverExt);
  issue('client', 'ca', 'labwire monitor', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  ca('other-ca', 'some other CA');
  issue('other-server', 'other-ca', 'localhost', serverExt);
  const read = (name: string): string => fs.readFileSync(f(name), 'utf8');
  cached = {
    caCert: read('ca.pem'),
    serverCert: read('server.pem'),
    serverKey: read('server.key'),
    clientCert: read('client.pem'),
    clientKey: read('client.key'),
    otherCaCert: read('other-ca.pem'),
    otherServerCert: read('other-server.pem'),
    otherServerKey: read('other-server.key'),
    dir,
  };
  return cached;
}
