import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A throwaway certificate authority, a server certificate for 127.0.0.1 / localhost and a
 * client certificate, made with the openssl CLI (.ci/run installs it when missing), for tests
 * of mutual TLS. PEM strings, ready for https.createServer and for ferry's callback_auth.
 */
export interface TestPki {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate from another CA, which the server must refuse. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "ferry-pki-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const newCa = (name: string) =>
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.crt`),
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    );
  const issue = (name: string, ca: string, extensions: string) => {
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      `/CN=${name}`,
    );
    writeFileSync(file(`${name}.ext`), extensions);
    openssl(
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file(`${ca}.crt`),
      "-CAkey",
      file(`${ca}.key`),
      "-CAcreateserial",
      "-out",
      file(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      file(`${name}.ext`),
    );
  };
  newCa("test-ca");
  newCa("stranger-ca");
  issue(
    "server",
    "test-ca",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  issue("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  issue("stranger", "stranger-ca", "extendedKeyUsage=clientAuth\n");
  const read = (name: string) => readFileSync(file(name), "utf8");
  return {
    caCert: read("test-ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    strangerCert: read("stranger.crt"),
    strangerKey: read("stranger.key"),
  };
}
