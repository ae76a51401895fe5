// Before any load: one request to each proxy as the load tools will make it (SNI and Host
// shop.example.com, the bench path), to check it answers 200 "ok", to obtain its stickiness cookie, and
// to record what TLS it negotiates with the clients' settings. Then a second request carrying the
// cookie, to check that the proxy takes the affinity path and sets no new cookie.
import { request } from "node:https";
import type { TLSSocket } from "node:tls";
import { HOST } from "./certificates.ts";
import { HAPROXY_COOKIE } from "./haproxy.ts";
import { BENCH_PATH, PORTCULLIS_COOKIE } from "./portcullis.ts";
import type { ProxyKind } from "./proxies.ts";
import { CLIENT_GROUPS } from "./tls-policy.ts";

/** What one probe request saw. */
export interface ProbeAnswer {
  status: number;
  body: string;
  setCookies: string[];
  protocol: string;
  cipher: string;
  /** The key-exchange group, e.g. "X25519". */
  group: string;
  alpn: string;
}

/** What the probe of one proxy established. */
export interface ProbeResult {
  /** The `name=value` the clients send (undefined for nginx: no stickiness). */
  cookie: string | undefined;
  /** "HTTP/1.1 TLSv1.3 TLS_AES_256_GCM_SHA384 X25519" as negotiated by the first request. */
  negotiated: string;
  /** Whether the request with the cookie got no Set-Cookie (the affinity path). */
  cookieHonoured: boolean | undefined;
}

/** The stickiness cookie name of each proxy kind (none for nginx). */
export const COOKIE_NAMES: Record<ProxyKind, string | undefined> = {
  nginx: undefined,
  haproxy: HAPROXY_COOKIE,
  portcullis: PORTCULLIS_COOKIE,
};

/** One GET of the bench path, new connection, no session. */
export function probeOnce(port: number, cookie?: string): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        servername: HOST,
        path: BENCH_PATH,
        headers: { host: HOST, ...(cookie === undefined ? {} : { cookie }) },
        rejectUnauthorized: false,
        ecdhCurve: CLIENT_GROUPS,
        agent: false,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const cipher = socket.getCipher();
        const key = socket.getEphemeralKeyInfo();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            setCookies: res.headers["set-cookie"] ?? [],
            protocol: socket.getProtocol() ?? "?",
            cipher: cipher.standardName ?? cipher.name,
            group: key && "name" in key && key.name ? String(key.name) : "?",
            alpn: socket.alpnProtocol || "http/1.1",
          }),
        );
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("probe timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** Probes a proxy (retrying for up to `timeoutMs` while it warms up); throws if it never answers 200 ok. */
export async function probeProxy(
  kind: ProxyKind,
  port: number,
  timeoutMs = 30_000,
): Promise<ProbeResult> {
  const first = await firstOk(kind, port, timeoutMs);
  const name = COOKIE_NAMES[kind];
  const line = name && first.setCookies.find((c) => c.startsWith(`${name}=`));
  const cookie = line ? line.split(";")[0] : undefined;
  if (name && !cookie) {
    throw new Error(`${kind}: no ${name} cookie in Set-Cookie: ${first.setCookies.join(" | ")}`);
  }
  let cookieHonoured: boolean | undefined;
  if (cookie) {
    const second = await probeOnce(port, cookie);
    cookieHonoured = second.status === 200 && second.setCookies.length === 0;
  }
  return { cookie, negotiated: `${first.protocol} ${first.cipher} ${first.group}`, cookieHonoured };
}

async function firstOk(kind: ProxyKind, port: number, timeoutMs: number): Promise<ProbeAnswer> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const answer = await probeOnce(port);
      if (answer.status === 200 && answer.body === "ok") return answer;
      last = `${answer.status} ${answer.body.slice(0, 200)}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${kind} on ${port} never answered 200 ok: ${last}`);
}
