// The `portcullis` command line, run for real as a child process on temporary directories.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { validateProxyConfig } from "../proxy/config/validate.ts";
import type { CheckReportJson } from "./commands/check.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "bin/portcullis.ts");
const fixtures = join(root, "test/golden/fixtures");
const examples = join(root, "examples");
/** Fixture certificates are valid 2025-01-01 to 2125-01-01; the expired one ended in 2021. */
const NOW = "2026-01-01T00:00:00Z";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/portcullis.ts ARGS` with pipes (so no terminal, no colours). */
function portcullis(
  args: readonly string[],
  options: { cwd?: string; input?: string } = {},
): Promise<Run> {
  const env = { ...process.env };
  for (const name of ["FORCE_COLOR", "NO_COLOR", "NODE_TEST_CONTEXT", "NODE_OPTIONS"])
    delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? root, env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

const INGRESS_CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portcullis
spec:
  controller: portcullis.dev/ingress-controller
`;

function ingress(options: { secretName?: string; path1?: string } = {}): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  ingressClassName: portcullis
  tls:
    - hosts: [shop.example.com]
      secretName: ${options.secretName ?? "wildcard-example-com"}
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: ${options.path1 ?? "/app-1"}
            pathType: Prefix
            backend: { service: { name: app-1, port: { number: 80 } } }
          - path: /app-2
            pathType: Prefix
            backend: { service: { name: app-2, port: { name: http } } }
`;
}

function backend(name: string, port: number, withEndpoints = true): string {
  const service = `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;
  if (!withEndpoints) return service;
  return `${service}---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: http, port: ${port}, protocol: TCP }]
endpoints:
  - addresses: [127.0.0.1]
    conditions: { ready: true }
`;
}

function policy(spec: string): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: LoadBalancerPolicy
metadata:
  name: shop
spec:
${spec
  .trim()
  .split("\n")
  .map((line) => `  ${line}`)
  .join("\n")}
`;
}

const scratch: string[] = [];
after(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-cli-"));
  scratch.push(dir);
  return dir;
}

/**
 * A directory with a working shop (IngressClass, Ingress, two backends, the wildcard Secret) in
 * namespace default, with `files` added or replacing those of the same name.
 */
async function shop(
  files: Record<string, string> = {},
  secrets = ["wildcard-example-com"],
): Promise<string> {
  const dir = await tempDir();
  const all: Record<string, string> = {
    "ingress-class.yaml": INGRESS_CLASS,
    "ingress.yaml": ingress(),
    "backends.yaml": `${backend("app-1", 9001)}---\n${backend("app-2", 9002)}`,
    ...files,
  };
  for (const [name, text] of Object.entries(all)) await writeFile(join(dir, name), text);
  for (const secret of secrets) {
    await cp(join(fixtures, `secret-${secret}.yaml`), join(dir, `secret-${secret}.yaml`));
  }
  return dir;
}

/** `check` on a directory, from inside it (so that file names print short). */
function check(dir: string, ...args: string[]): Promise<Run> {
  return portcullis(["check", "--now", NOW, ...args, "."], { cwd: dir });
}

/** Asserts a failed check with a line for `file` naming `field` (and the rest of `pattern`). */
function assertRejected(run: Run, file: string, pattern: RegExp): void {
  assert.equal(run.status, 1, `expected exit 1\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  const lines = run.stdout.split("\n").filter((line) => line.startsWith(`${file}:`));
  assert.ok(
    lines.some((line) => pattern.test(line)),
    `no line of ${file} matches ${pattern}:\n${run.stdout}`,
  );
}

describe("portcullis check rejects, naming the field", () => {
  test("a cookie with SameSite=None that is not Secure", async () => {
    const dir = await shop({
      "policy.yaml": policy(`
targetRefs: [{ kind: Ingress, name: shop }]
affinity:
  cookie: { name: pin, sameSite: None, secure: false }
`),
    });
    const run = await check(dir);
    assertRejected(
      run,
      "policy.yaml",
      /^policy\.yaml:1: LoadBalancerPolicy default\/shop: spec\.affinity\.cookie\.secure: .*sameSite None requires secure/,
    );
  });

  test("an unknown TLS mode", async () => {
    const dir = await shop({
      "policy.yaml": policy(`
targetRefs: [{ kind: Ingress, name: shop }]
tls: { mode: Foo }
`),
    });
    assertRejected(
      await check(dir),
      "policy.yaml",
      /LoadBalancerPolicy default\/shop: spec\.tls\.mode: Unsupported value: "Foo"/,
    );
  });

  test("a backend weight out of range", async () => {
    const dir = await shop({
      "policy.yaml": policy(`
targetRefs: [{ kind: Ingress, name: shop }]
backendSplits:
  - path: /app-1
    backends:
      - { name: app-1, port: { number: 80 }, weight: 1001 }
      - { name: app-2, port: { number: 80 }, weight: 1 }
`),
    });
    assertRejected(
      await check(dir),
      "policy.yaml",
      /spec\.backendSplits\[0\]\.backends\[0\]\.weight: .*1000/,
    );
  });

  for (const path of ["/app-1//x", "/app-1/../admin"]) {
    test(`a backendSplits path with ${path.includes("//") ? "//" : "/../"}`, async () => {
      const dir = await shop({
        "policy.yaml": policy(`
targetRefs: [{ kind: Ingress, name: shop }]
backendSplits:
  - path: ${path}
    backends:
      - { name: app-1, port: { number: 80 } }
      - { name: app-2, port: { number: 80 } }
`),
      });
      assertRejected(await check(dir), "policy.yaml", /spec\.backendSplits\[0\]\.path: /);
    });
  }

  test("an Ingress path with //", async () => {
    const dir = await shop({ "ingress.yaml": ingress({ path1: "/app-1//x" }) });
    assertRejected(
      await check(dir),
      "ingress.yaml",
      /^ingress\.yaml:1: Ingress default\/shop: spec\.rules\[0\]\.http\.paths\[0\]\.path: /,
    );
  });

  test("a policy targeting an Ingress that does not exist", async () => {
    const dir = await shop({
      "policy.yaml": policy("targetRefs: [{ kind: Ingress, name: nowhere }]"),
    });
    assertRejected(
      await check(dir),
      "policy.yaml",
      /LoadBalancerPolicy default\/shop: spec\.targetRefs\[0\]: .*nowhere.* \(TargetNotFound\)$/,
    );
  });

  test("a TLS Secret whose certificate does not cover the host", async () => {
    const dir = await shop({ "ingress.yaml": ingress({ secretName: "other-test" }) }, [
      "other-test",
    ]);
    assertRejected(
      await check(dir),
      "ingress.yaml",
      /Ingress default\/shop: spec\.tls\[0\]\.hosts\[0\]: .*shop\.example\.com.* \(HostNotCovered\)$/,
    );
  });

  test("an expired certificate", async () => {
    const dir = await shop({ "ingress.yaml": ingress({ secretName: "expired-example-com" }) }, [
      "expired-example-com",
    ]);
    assertRejected(
      await check(dir),
      "ingress.yaml",
      /Ingress default\/shop: spec\.tls\[0\]\.secretName: .* \(CertificateExpired\)$/,
    );
  });

  test("a key that does not match its certificate", async () => {
    const dir = await shop({ "ingress.yaml": ingress({ secretName: "mismatched-example-com" }) }, [
      "mismatched-example-com",
    ]);
    assertRejected(
      await check(dir),
      "ingress.yaml",
      /Ingress default\/shop: spec\.tls\[0\]\.secretName: .* \(KeyMismatch\)$/,
    );
  });
});

describe("portcullis check", () => {
  test("accepts examples/", async () => {
    const run = await portcullis(["check", "examples/"]);
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const lines = run.stdout.split("\n").filter((line) => line !== "");
    assert.ok(
      lines.every((line) => line.includes(": warning: ")),
      `only warnings:\n${run.stdout}`,
    );
    assert.match(run.stderr, /^portcullis check: .*objects? in \d+ files/m);
  });

  test("accepts a working shop without a word on stdout", async () => {
    const run = await check(await shop());
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^portcullis check: no problems \(7 objects in 4 files\)\n$/);
  });

  test("prints warnings, which fail only with --strict", async () => {
    const dir = await shop({
      "backends.yaml": `${backend("app-1", 9001)}---\n${backend("app-2", 0, false)}`,
    });
    const run = await check(dir);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /^ingress\.yaml:1: warning: Ingress default\/shop: spec\.rules\[0\]\.http\.paths\[1\]\.backend\.service\.name: .* \(NoEndpoints\)$/m,
    );
    assert.match(run.stderr, /0 errors, 1 warning/);
    assert.equal((await check(dir, "--strict")).status, 1);
  });

  test("names both files of a duplicate object", async () => {
    const dir = await shop({ "copy.yaml": `# a copy\n${INGRESS_CLASS}` });
    const run = await check(dir);
    assertRejected(
      run,
      "ingress-class.yaml",
      /^ingress-class\.yaml:1: IngressClass portcullis: duplicate object: already defined at copy\.yaml:2$/,
    );
  });

  test("reports YAML errors with their line, and still checks the other documents", async () => {
    const dir = await shop({
      "broken.yaml": "apiVersion: v1\nkind: Service\nmetadata: { name: x\n",
    });
    const run = await check(dir);
    assertRejected(run, "broken.yaml", /^broken\.yaml:3: /);
  });

  test("refuses objects of its own group it does not know, and kinds it reads under another version", async () => {
    const dir = await shop({
      "typo.yaml":
        "apiVersion: portcullis.dev/v1alpha1\nkind: LoadBalancerPolicies\nmetadata: { name: a }\n---\napiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: { name: b }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: c }\n",
    });
    const run = await check(dir);
    assertRejected(
      run,
      "typo.yaml",
      /^typo\.yaml:1: kind: Unsupported value: "LoadBalancerPolicies"/,
    );
    assertRejected(
      run,
      "typo.yaml",
      /^typo\.yaml:5: apiVersion: Unsupported value: "networking\.k8s\.io\/v1beta1"/,
    );
    assert.match(run.stderr, /1 of kinds Portcullis does not read ignored/);
  });

  test("--output json lists problems with their fields", async () => {
    const dir = await shop({
      "policy.yaml": policy("targetRefs: [{ kind: Ingress, name: nowhere }]"),
    });
    const run = await check(dir, "--output", "json");
    assert.equal(run.status, 1);
    const report = JSON.parse(run.stdout) as CheckReportJson;
    assert.deepEqual(report.summary, { errors: 1, warnings: 0, files: 5, objects: 8, ignored: 0 });
    assert.deepEqual(report.problems[0], {
      severity: "Error",
      source: "compiler",
      file: "policy.yaml",
      line: 1,
      kind: "LoadBalancerPolicy",
      namespace: "default",
      name: "shop",
      field: "spec.targetRefs[0]",
      reason: "TargetNotFound",
      message: report.problems[0]?.message,
    });
    assert.match(
      report.problems[0]?.message ?? "",
      /^spec\.targetRefs\[0\]: .* \(TargetNotFound\)$/,
    );
  });

  test("reads standard input for -, and prints no colours to a pipe", async () => {
    const run = await portcullis(["check", "-"], {
      input:
        "apiVersion: portcullis.dev/v1alpha1\nkind: LoadBalancerPolicy\nmetadata: { name: p }\nspec: { targetRefs: [], tls: { mode: Foo } }\n",
    });
    assert.equal(run.status, 1);
    assert.match(run.stdout, /^<stdin>:1: LoadBalancerPolicy default\/p: /m);
    assert.ok(!(run.stdout + run.stderr).includes("\x1b["), "no ANSI escapes to a pipe");
  });

  test("an unusable --default-certificate is an error, not ignored", async () => {
    const dir = await shop();
    const missing = await check(dir, "--default-certificate", "default/nothing");
    assert.equal(missing.status, 1);
    assert.match(
      missing.stdout,
      /^--default-certificate: Secret "default\/nothing" does not exist/m,
    );
    const valid = await check(dir, "--default-certificate", "default/wildcard-example-com");
    assert.equal(valid.status, 0, valid.stdout);
  });

  test("-n sets the namespace of objects that set none", async () => {
    const run = await portcullis(["check", "-n", "shop", "-"], {
      input:
        "apiVersion: portcullis.dev/v1alpha1\nkind: LoadBalancerPolicy\nmetadata: { name: p }\nspec: { targetRefs: [{ kind: Ingress, name: nowhere }] }\n",
    });
    assert.match(
      run.stdout,
      /LoadBalancerPolicy shop\/p: spec\.targetRefs\[0\]: .*"shop\/nowhere"/,
    );
  });
});

describe("portcullis usage", () => {
  const usageCases: Array<[string, string[], RegExp]> = [
    ["no arguments", [], /^Usage: portcullis COMMAND/],
    [
      "an unknown command",
      ["frobnicate"],
      /^portcullis: unknown command "frobnicate"\nRun "portcullis --help" for usage\.$/m,
    ],
    [
      "no PATH",
      ["check"],
      /^portcullis: no PATH given\nRun "portcullis check --help" for usage\.$/m,
    ],
    ["an unknown option", ["check", "--bogus", "."], /^portcullis: Unknown option '--bogus'/m],
    [
      "a bad --now",
      ["compile", "--now", "yesterday", "."],
      /^portcullis: option --now: invalid value "yesterday"/m,
    ],
    [
      "a bad --output",
      ["compile", "-o", "xml", "."],
      /^portcullis: option --output: invalid value "xml": expected json or yaml$/m,
    ],
    ["a bad --namespace", ["check", "-n", "Not_A_Namespace", "."], /option --namespace/],
    [
      "an unreadable --kubeconfig (operator)",
      ["operator", "--kubeconfig", "/nonexistent/kubeconfig", "--image", "x"],
      /^portcullis: option --kubeconfig: invalid value "\/nonexistent\/kubeconfig": cannot be loaded: ENOENT/m,
    ],
    [
      "an unreadable --kubeconfig (config-sync)",
      [
        "config-sync",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--namespace",
        "a",
        "--configmap",
        "b",
        "--out",
        "/nonexistent/out.json",
      ],
      /^portcullis: option --kubeconfig: invalid value/m,
    ],
  ];
  for (const [name, args, pattern] of usageCases) {
    test(`exits 2 on ${name}`, async () => {
      const run = await portcullis(args);
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, pattern);
    });
  }

  test("--help lists the commands, --version prints package.json's version", async () => {
    const help = await portcullis(["--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^ {2}check {3}/m);
    assert.match(help.stdout, /^ {2}compile {1}/m);
    const checkHelp = await portcullis(["check", "--help"]);
    assert.match(checkHelp.stdout, /^Usage: portcullis check \[options\] PATH\.\.\./);
    const version = await portcullis(["--version"]);
    const { version: expected } = JSON.parse(
      await readFile(join(root, "package.json"), "utf8"),
    ) as { version: string };
    assert.equal(version.stdout, `portcullis ${expected}\n`);
  });
});

describe("portcullis compile", () => {
  let shuffled: string;
  before(async () => {
    // Every document of examples/ in a file of its own, named so that they sort in another order.
    shuffled = await tempDir();
    for (const file of await listFiles(examples)) {
      if (!/\.ya?ml$/.test(file)) continue;
      const documents = (await readFile(file, "utf8")).split(/^---$/m);
      for (const [i, document] of documents.entries()) {
        const name = createHash("sha256")
          .update(`${relative(examples, file)}#${i}`)
          .digest("hex")
          .slice(0, 12);
        await mkdir(join(shuffled, name.slice(0, 1)), { recursive: true });
        await writeFile(join(shuffled, name.slice(0, 1), `${name}-${basename(file)}`), document);
      }
    }
  });

  for (const format of ["json", "yaml"]) {
    test(`prints a valid configuration, byte-identical across runs and input order (${format})`, async () => {
      const args = ["compile", "--now", NOW, "--output", format];
      const first = await portcullis([...args, "examples/"]);
      assert.equal(first.status, 0, first.stderr);
      const config: unknown = format === "json" ? JSON.parse(first.stdout) : parse(first.stdout);
      assert.deepEqual(validateProxyConfig(config), []);
      const again = await portcullis([...args, "examples/"]);
      assert.equal(again.stdout, first.stdout, "differs between runs");
      const reordered = await portcullis([...args, shuffled]);
      assert.equal(reordered.status, 0, reordered.stderr);
      assert.equal(reordered.stdout, first.stdout, "differs with the input in another order");
    });
  }

  test("--full prints config, statuses, diagnostics and certificates, also byte-identical", async () => {
    const args = ["compile", "--now", NOW, "--full"];
    const first = await portcullis([...args, "examples/"]);
    assert.equal(first.status, 0, first.stderr);
    const full = JSON.parse(first.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(full), ["config", "statuses", "diagnostics", "certificates"]);
    const certificates = full.certificates as Array<{ spec: { dnsNames: string[] } }>;
    assert.deepEqual(certificates[0]?.spec.dnsNames, ["*.example.com", "example.com"]);
    assert.equal((await portcullis([...args, shuffled])).stdout, first.stdout);
  });

  test("prints nothing when a manifest cannot be read", async () => {
    const dir = await shop({ "broken.yaml": "kind: [\n" });
    const run = await portcullis(["compile", "--now", NOW, "."], { cwd: dir });
    assert.equal(run.status, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^broken\.yaml:1: /m);
    assert.match(run.stderr, /no configuration was printed/);
  });

  test("--secrets-dir sets where certificate files are read from", async () => {
    const run = await portcullis([
      "compile",
      "--now",
      NOW,
      "--secrets-dir",
      "/run/tls",
      "examples/two-backends-affinity",
    ]);
    assert.equal(run.status, 0, run.stderr);
    const config = JSON.parse(run.stdout) as { certificates: Array<{ certFile: string }> };
    assert.equal(config.certificates[0]?.certFile, "/run/tls/shop/wildcard-example-com/tls.crt");
  });
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

test("each command's summary in the top-level list is the one its module declares", async () => {
  const { commands } = await import("./main.ts");
  for (const entry of commands) {
    const command = await entry.load();
    assert.equal(command.name, entry.name);
    assert.equal(command.summary, entry.summary, `summary of ${entry.name}`);
  }
});
