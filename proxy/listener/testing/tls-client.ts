// A TLS client for listener tests: one handshake, what was negotiated, the session for a later
// resumption. Test-only.
import { once } from "node:events";
import { type ConnectionOptions, connect, type TLSSocket } from "node:tls";

/** What a successful handshake negotiated. */
export interface Negotiated {
  readonly ok: true;
  readonly protocol: string | null;
  readonly cipher: string;
  readonly alpn: string | false | null;
  readonly commonName: string | undefined;
  readonly dnsNames: string;
  readonly reused: boolean;
  /** The last session the server handed out (a TLS 1.3 server sends tickets after the handshake). */
  readonly session: Buffer | undefined;
  readonly socket: TLSSocket;
}

/** A failed handshake. */
export interface Refused {
  readonly ok: false;
  readonly error: Error & { code?: string };
}

/** Options of tlsHandshake: node:tls connect options plus how long to wait for a session ticket. */
export type HandshakeOptions = ConnectionOptions & {
  /** Wait up to this long for a session ticket after the handshake, ms. Default 0 (do not wait). */
  readonly sessionWaitMs?: number;
  /** Keep the socket open (the caller ends it). Default false. */
  readonly keepOpen?: boolean;
};

/** Connects to 127.0.0.1:`port`, handshakes, and reports the outcome. Bounded by a 5 s timeout. */
export async function tlsHandshake(
  port: number,
  options: HandshakeOptions,
): Promise<Negotiated | Refused> {
  const { sessionWaitMs = 0, keepOpen = false, ...connectOptions } = options;
  const socket = connect({ host: "127.0.0.1", port, ...connectOptions });
  let session: Buffer | undefined;
  socket.on("session", (value: Buffer) => {
    session = value;
  });
  socket.on("data", () => {});
  socket.setTimeout(5000, () => socket.destroy(new Error("handshake timed out")));
  try {
    await once(socket, "secureConnect");
  } catch (error) {
    socket.destroy();
    return { ok: false, error: error as Error & { code?: string } };
  }
  socket.setTimeout(0);
  // Read what was negotiated now: a server may close right after the handshake.
  const peer = socket.getPeerCertificate();
  const negotiated = {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    alpn: socket.alpnProtocol,
    commonName: typeof peer.subject?.CN === "string" ? peer.subject.CN : undefined,
    dnsNames: peer.subjectaltname ?? "",
    reused: socket.isSessionReused(),
  };
  if (sessionWaitMs > 0 && session === undefined) {
    const deadline = Date.now() + sessionWaitMs;
    while (session === undefined && Date.now() < deadline && !socket.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const result: Negotiated = { ok: true, ...negotiated, session, socket };
  if (!keepOpen) socket.destroy();
  return result;
}
