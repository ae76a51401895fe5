// Fault: a backend endpoint killed (SIGKILL) under load.
//
// `portcullis serve` (two workers) balances /app-1 over three backend processes, with cookie affinity
// and the default passive health check and retries. Three kinds of clients keep it busy:
// balanced HTTP/1.1 keep-alive lanes, balanced HTTP/2 streams, and "users": HTTP/1.1 clients that keep
// the affinity cookie they are given, as a browser does. Once every user is pinned, the backend with the
// most pinned users is SIGKILLed (the kernel closes its sockets, as when a container crashes).
//
// What must hold:
//   - "first detection" is the first moment a client could see that the proxy met the dead endpoint:
//     the end of the first request that failed or was answered by re-pinning a user (whichever comes
//     first). Requests that *started* after it: zero failures, under the rule in ./support.ts (an
//     HTTP/1.1 request on a reused client connection closed under it, or a refused HTTP/2 stream, is sent
//     again once; nothing here closes client connections, so none is expected). Requests in flight
//     at the moment of the kill may fail: their backend died holding them (counted and reported).
//   - every user pinned to the dead backend is re-pinned: a 200 from a live backend with a new
//     Set-Cookie, and from then on the new pin is honoured (the same backend every time);
//     users pinned elsewhere never move;
//   - no request sent after the kill is answered by the dead backend (none could be: a check that the
//     answers are what they claim to be).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  COOKIE_NAME,
  createPki,
  delay,
  generateKeys,
  removeTree,
  temporaryRoot,
  writeManifests,
} from "../e2e/support.ts";
import {
  type Answer,
  type BackendProcess,
  describeLoad,
  type LoadResult,
  runHttp1Load,
  runHttp2Load,
  startBackendProcess,
  startProxy,
} from "./support.ts";

const USERS = 24;
const WARM_UP_MS = 2500;
const AFTER_KILL_MS = 6000;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** What one user (a cookie-keeping client) went through. */
interface User {
  /** `name=value` of the affinity cookie it holds. */
  cookie: string | undefined;
  /** The backend its cookie pins it to (the last answer that set a cookie). */
  pinnedTo: string | undefined;
  /** Every change of pin: when (ms since epoch), from and to. */
  moves: { at: number; from: string; to: string }[];
}

test("a backend SIGKILLed under load: zero failed requests after the first detection, its pinned users re-pinned with a new cookie", {
  timeout: 80_000,
}, async (t) => {
  const root = await temporaryRoot();
  cleanups.push(() => removeTree(root));
  const backends: BackendProcess[] = await Promise.all(
    ["app-1-a", "app-1-b", "app-1-c", "app-2-a"].map(startBackendProcess),
  );
  cleanups.push(() => Promise.all(backends.map((b) => b.close())));
  const app1 = backends.slice(0, 3);
  const pki = await createPki();
  const ca = pki.ca.certificatePem;
  const manifests = join(root, "manifests");
  await writeManifests(manifests, {
    app1: app1.map((b) => b.port),
    app2: [backends[3]?.port ?? 0],
    certificate: pki.leaf,
    keys: generateKeys(),
  });
  const proxy = await startProxy({ paths: [manifests], stateDir: join(root, "state") });
  cleanups.push(() => proxy.stop());
  const port = proxy.httpsPort;

  let killedAt = Number.POSITIVE_INFINITY;
  /** When the kill was over (the process reaped): no request sent later can reach it. */
  let deadAt = Number.POSITIVE_INFINITY;
  let victim = "";
  /** The end of the first request that showed the proxy meeting the dead endpoint (ms since epoch). */
  let detectedAt = Number.POSITIVE_INFINITY;
  const answeredByVictimAfterKill: number[] = [];
  const detect = (at: number): void => {
    if (at >= killedAt && at < detectedAt) detectedAt = at;
  };
  const users: User[] = Array.from({ length: USERS }, () => ({
    cookie: undefined,
    pinnedTo: undefined,
    moves: [],
  }));

  const runs: { label: string; result: Promise<LoadResult> }[] = [];
  const stopAt = { value: Number.POSITIVE_INFINITY };
  const stop = (): boolean => Date.now() >= stopAt.value;
  const bounds = { durationMs: 40_000, maxRequests: 200_000, stop };
  const balancedCheck = (answer: Answer, _lane: number, sentAt: number): string | undefined => {
    if (answer.status !== 200) {
      detect(Date.now());
      return `status ${answer.status}`;
    }
    if (answer.body === victim && sentAt > deadAt) answeredByVictimAfterKill.push(sentAt);
    return answer.body.startsWith("app-1-") ? undefined : `body ${answer.body.slice(0, 40)}`;
  };
  runs.push({
    label: "HTTP/1.1 balanced, 8 keep-alive connections",
    result: runHttp1Load({
      port,
      ca,
      lanes: 8,
      ...bounds,
      path: (_lane, i) => `/app-1/balanced/${i}`,
      check: balancedCheck,
    }),
  });
  runs.push({
    label: "HTTP/2 balanced, 16 streams over 2 sessions",
    result: runHttp2Load({
      port,
      ca,
      lanes: 16,
      sessions: 2,
      ...bounds,
      path: (_lane, i) => `/app-1/balanced-h2/${i}`,
      check: balancedCheck,
    }),
  });
  runs.push({
    label: `HTTP/1.1 users with cookies, ${USERS} keep-alive connections`,
    result: runHttp1Load({
      port,
      ca,
      lanes: USERS,
      ...bounds,
      path: (lane, i) => `/app-1/user/${lane}/${i}`,
      headers: (lane) => {
        const cookie = users[lane]?.cookie;
        return cookie === undefined ? {} : { cookie };
      },
      check: (answer, lane, sentAt) => {
        const user = users[lane] as User;
        const now = Date.now();
        if (answer.status !== 200) {
          detect(now);
          return `user: status ${answer.status}`;
        }
        if (answer.body === victim && sentAt > deadAt) answeredByVictimAfterKill.push(sentAt);
        const line = answer.setCookie.find((c) => c.startsWith(`${COOKIE_NAME}=`));
        const cookie = line?.split(";")[0];
        if (user.pinnedTo !== undefined && answer.body !== user.pinnedTo) {
          // Moved: only allowed with a new cookie, and only away from the dead backend.
          if (cookie === undefined || cookie === user.cookie) {
            return `user moved from ${user.pinnedTo} to ${answer.body} without a new cookie`;
          }
          if (user.pinnedTo !== victim || now < killedAt) {
            return `user moved from ${user.pinnedTo} (alive) to ${answer.body}`;
          }
          user.moves.push({ at: now, from: user.pinnedTo, to: answer.body });
          detect(now);
        }
        if (cookie !== undefined) {
          user.cookie = cookie;
          user.pinnedTo = answer.body;
        }
        return answer.body.startsWith("app-1-") ? undefined : `body ${answer.body.slice(0, 40)}`;
      },
    }),
  });

  // Warm up until every user is pinned, then kill the backend most users are pinned to.
  await delay(WARM_UP_MS);
  assert.ok(
    users.every((u) => u.pinnedTo !== undefined),
    "every user was pinned during the warm-up",
  );
  const pinnedCount = new Map<string, number>();
  for (const user of users) {
    const name = user.pinnedTo as string;
    pinnedCount.set(name, (pinnedCount.get(name) ?? 0) + 1);
  }
  victim = [...pinnedCount].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
  const dead = app1.find((b) => b.name === victim) as BackendProcess;
  const pinnedToVictim = users.filter((u) => u.pinnedTo === victim);
  killedAt = Date.now();
  const exit = await dead.kill();
  assert.equal(exit.signal, "SIGKILL");
  deadAt = Date.now();
  stopAt.value = Date.now() + AFTER_KILL_MS;
  const results = await Promise.all(runs.map((r) => r.result));

  // Failures, split at the first detection; when the failed requests were sent, relative to the kill.
  const afterDetection: string[] = [];
  const sent: number[] = [];
  results.forEach((result, i) => {
    t.diagnostic(describeLoad(runs[i]?.label ?? "", result));
    for (const failure of result.firstFailures) {
      const started = result.startedAt + failure.startedMs;
      sent.push(started - killedAt);
      if (started > detectedAt) {
        const ended = result.startedAt + failure.endedMs;
        afterDetection.push(
          `${failure.reason}: sent ${started - killedAt} ms, failed ${ended - killedAt} ms after the kill`,
        );
      }
    }
  });
  sent.sort((x, y) => x - y);
  const totalFailed = results.reduce((sum, r) => sum + r.failed, 0);
  const kept = results.reduce((sum, r) => sum + r.firstFailures.length, 0);
  const moved = pinnedToVictim.filter((u) => u.moves.length > 0);
  const repinnedAfter = moved.map((u) => (u.moves[0]?.at ?? 0) - killedAt).sort((a, b) => a - b);
  t.diagnostic(
    `killed ${victim} (${pinnedToVictim.length} of ${USERS} users pinned to it; the kill took ${deadAt - killedAt} ms); first detection ${detectedAt - killedAt} ms after the kill; ${totalFailed} failed requests (502, in flight to it), sent between ${sent[0]} and ${sent.at(-1)} ms after the kill; users re-pinned ${repinnedAfter[0]}–${repinnedAfter.at(-1)} ms after the kill`,
  );

  assert.equal(kept, totalFailed, "every failure was kept for the analysis");
  assert.deepEqual(afterDetection, [], "no request that started after the first detection failed");
  for (const result of results) assert.equal(result.retried.size, 0, "no client-side retry");
  assert.equal(moved.length, pinnedToVictim.length, "every user pinned to the dead backend moved");
  for (const user of users) {
    const last = user.moves.at(-1);
    if (user.moves.length > 0) {
      assert.equal(user.moves.length, 1, "a re-pinned user moved once");
      assert.notEqual(last?.to, victim);
    }
    assert.notEqual(user.pinnedTo, victim, "no user is pinned to the dead backend in the end");
  }
  assert.deepEqual(
    answeredByVictimAfterKill,
    [],
    "no request sent after the kill was answered by it",
  );
  const served = new Set(results.flatMap((r) => [...r.bodies.keys()]));
  for (const backend of app1) {
    assert.ok(served.has(backend.name), `${backend.name} took traffic`);
  }
});
