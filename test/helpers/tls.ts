// A throwaway self-signed certificate for TLS tests, made with the openssl CLI (.ci/run installs it).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed EC certificate for 127.0.0.1 and localhost, valid for a day. */
export function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "fcr-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A certificate signed by a throwaway CA, for the client's TLS failures:
 * `expired` dates it 2020-01-01 to 2020-01-02, `altName` names another host
 * than 127.0.0.1. The CA is returned so that a client can trust it.
 */
export function caSigned(opts: { expired?: boolean; altName?: string } = {}): {
  ca: Buffer;
  key: Buffer;
  cert: Buffer;
} {
  const dir = mkdtempSync(join(tmpdir(), "fcr-ca-"));
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "serial"), "01\n");
    writeFileSync(
      join(dir, "ca.cnf"),
      "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\n" +
        "default_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n",
    );
    run(["req", "-x509", ...ec, "-days", "1", "-subj", "/CN=fcr test ca", "-keyout", "ca.key", "-out", "ca.pem"]);
    const san = `subjectAltName=${opts.altName ?? "IP:127.0.0.1"}`;
    run(["req", "-new", ...ec, "-subj", "/CN=server", "-addext", san, "-keyout", "key.pem", "-out", "req.csr"]);
    const dates = opts.expired ? ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"] : ["-days", "1"];
    run([
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      "ca.pem",
      "-keyfile",
      "ca.key",
      ...dates,
      "-in",
      "req.csr",
      "-out",
      "cert.pem",
    ]);
    const read = (f: string) => readFileSync(join(dir, f));
    return { ca: read("ca.pem"), key: read("key.pem"), cert: read("cert.pem") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
