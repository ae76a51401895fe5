// Control-plane benchmark: time and memory to compile N Ingresses (with policies, Services,
// EndpointSlices and Secrets) into one proxy config, as the operator does on every change. Each size
// runs in a fresh child process, so its peak RSS (VmHWM) is the compile's alone.
//
//   node scripts/bench-control/compile.ts [--sizes 1000,10000] [--reps 3] [--json]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { V1EndpointSlice, V1Ingress, V1Secret, V1Service } from "@kubernetes/client-node";
import type { LoadBalancerPolicy } from "../../operator/api/policy.ts";
import { compile, defaultCompilerOptions } from "../../operator/compiler/compile.ts";
import type { CompilerInput } from "../../operator/compiler/types.ts";
import {
  buildTlsSecret,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";

/** One size's figures. */
export interface CompileFigures {
  ingresses: number;
  objects: number;
  /** Median compile time, ms. */
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Peak resident memory of the whole process (inputs included) after the first compile, MiB. */
  firstPeakRssMiB: number;
  /**
   * Peak resident memory after all the repetitions, MiB. Higher than after one: V8 grows the heap to
   * several times what is live before it runs a full collection (--trace-gc shows none between the
   * compiles), so back-to-back compiles, as in an operator under churn, stack their garbage.
   */
  peakRssMiB: number;
  virtualHosts: number;
  clusters: number;
}

const INGRESSES_PER_POLICY = 10;
const INGRESSES_PER_SECRET = 100;
const ENDPOINTS_PER_SLICE = 3;

/** A cluster of `count` Ingresses across 100 namespaces, each with two paths to two Services. */
export function buildInput(
  count: number,
  secretPems: { certificatePem: string; keyPem: string },
): CompilerInput {
  const ingresses: V1Ingress[] = [];
  const services: V1Service[] = [];
  const slices: V1EndpointSlice[] = [];
  const policies: LoadBalancerPolicy[] = [];
  const secrets: V1Secret[] = [];
  const namespaces = Math.min(100, Math.max(1, Math.floor(count / 10)));
  for (let n = 0; n < namespaces; n++) {
    for (let s = 0; s * INGRESSES_PER_SECRET < count / namespaces || s === 0; s++) {
      secrets.push(buildTlsSecret({ namespace: `ns-${n}`, name: `wildcard-${s}` }, secretPems));
    }
  }
  for (let i = 0; i < count; i++) {
    const namespace = `ns-${i % namespaces}`;
    const name = `app-${i}`;
    const created = new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)).toISOString();
    for (const side of ["web", "api"]) {
      services.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { namespace, name: `${name}-${side}` },
        spec: { ports: [{ name: "http", port: 80, targetPort: "http" as unknown as object }] },
      } as unknown as V1Service);
      slices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          namespace,
          name: `${name}-${side}-1`,
          labels: { "kubernetes.io/service-name": `${name}-${side}` },
        },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: Array.from({ length: ENDPOINTS_PER_SLICE }, (_, e) => ({
          addresses: [`10.${(i >> 8) & 255}.${i & 255}.${e + 1}`],
          conditions: { ready: true },
        })),
      });
    }
    ingresses.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { namespace, name, creationTimestamp: created as unknown as Date, generation: 1 },
      spec: {
        ingressClassName: "portcullis",
        tls: [
          {
            hosts: [`${name}.example.com`],
            secretName: `wildcard-${Math.floor(Math.floor(i / namespaces) / INGRESSES_PER_SECRET)}`,
          },
        ],
        rules: [
          {
            host: `${name}.example.com`,
            http: {
              paths: ["web", "api"].map((side) => ({
                path: side === "web" ? "/" : "/api",
                pathType: "Prefix",
                backend: { service: { name: `${name}-${side}`, port: { name: "http" } } },
              })),
            },
          },
        ],
      },
    });
    // One policy per 10 Ingresses of a namespace (the i-th Ingress is the (i / namespaces)-th of its own).
    if (Math.floor(i / namespaces) % INGRESSES_PER_POLICY === 0) {
      const targets = [];
      for (let t = i; t < Math.min(count, i + INGRESSES_PER_POLICY * namespaces); t += namespaces) {
        targets.push({ group: "networking.k8s.io", kind: "Ingress", name: `app-${t}` });
      }
      policies.push({
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: {
          namespace,
          name: `policy-${i}`,
          generation: 1,
          creationTimestamp: created as unknown as Date,
        },
        spec: {
          targetRefs: targets,
          affinity: { cookie: { name: "route", maxAge: "1h" } },
        },
      } as LoadBalancerPolicy);
    }
  }
  return {
    ingressClasses: [
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "IngressClass",
        metadata: { name: "portcullis" },
        spec: { controller: "portcullis.dev/ingress-controller" },
      },
    ],
    ingresses,
    policies,
    services,
    endpointSlices: slices,
    secrets,
    issuers: [],
    clusterIssuers: [],
  };
}

function peakRssMiB(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kib / 1024);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs one size in this process and prints its figures as JSON (the child side). */
async function measureHere(count: number, reps: number): Promise<void> {
  const ca = await createCertificateAuthority();
  const leaf = await issueCertificate(ca, { dnsNames: ["*.example.com", "example.com"] });
  const input = buildInput(count, { certificatePem: leaf.chainPem, keyPem: leaf.keyPem });
  const options = defaultCompilerOptions(new Date());
  const times: number[] = [];
  let last: ReturnType<typeof compile> | undefined;
  let firstPeakRssMiB = 0;
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    last = compile(input, options);
    times.push(performance.now() - start);
    if (r === 0) firstPeakRssMiB = peakRssMiB();
  }
  const errors = last?.diagnostics.filter((d) => d.severity === "Error") ?? [];
  if (errors.length > 0) throw new Error(`the generated input has errors: ${errors[0]?.message}`);
  const figures: CompileFigures = {
    ingresses: count,
    objects:
      input.ingresses.length +
      input.policies.length +
      input.services.length +
      input.endpointSlices.length +
      input.secrets.length,
    medianMs: Math.round(median(times)),
    minMs: Math.round(Math.min(...times)),
    maxMs: Math.round(Math.max(...times)),
    firstPeakRssMiB,
    peakRssMiB: peakRssMiB(),
    virtualHosts: last?.config.virtualHosts.length ?? 0,
    clusters: last?.config.clusters.length ?? 0,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/** Measures each size in a fresh child process. */
export function measureCompile(sizes: readonly number[], reps: number): CompileFigures[] {
  const self = fileURLToPath(import.meta.url);
  return sizes.map((size) => {
    const out = execFileSync(
      process.execPath,
      [self, "--child", String(size), "--reps", String(reps)],
      {
        encoding: "utf8",
        maxBuffer: 1024 * 1024,
      },
    );
    return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as CompileFigures;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      child: { type: "string" },
      sizes: { type: "string", default: "1000,10000" },
      reps: { type: "string", default: "3" },
      json: { type: "boolean", default: false },
    },
  });
  const reps = Number(values.reps);
  if (values.child !== undefined) {
    await measureHere(Number(values.child), reps);
  } else {
    const figures = measureCompile(values.sizes.split(",").map(Number), reps);
    if (values.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    else {
      process.stdout.write(
        `| Ingresses | objects | compile median (min–max) | peak RSS after one compile | after ${reps} |\n|---|---|---|---|---|\n`,
      );
      for (const f of figures)
        process.stdout.write(
          `| ${f.ingresses.toLocaleString("en")} | ${f.objects.toLocaleString("en")} | ${f.medianMs} ms (${f.minMs}–${f.maxMs}) | ${f.firstPeakRssMiB} MiB | ${f.peakRssMiB} MiB |\n`,
        );
    }
  }
}
