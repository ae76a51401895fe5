// Builds ClientHello bytes for parser tests, and captures real ones from node:tls. Test-only.
import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { type ConnectionOptions, connect } from "node:tls";

/** What to put in a synthetic ClientHello. */
export interface HelloSpec {
  serverName?: string | undefined;
  alpn?: readonly string[] | undefined;
  supportedVersions?: readonly number[] | undefined;
  sessionIdLength?: number;
  /** Bytes of an extra (unknown) extension, to vary sizes. */
  paddingBytes?: number;
}

function u16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

function vector16(bytes: number[]): number[] {
  return [...u16(bytes.length), ...bytes];
}

function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

/** The handshake message (type, 3-byte length, body) of a ClientHello. */
export function buildClientHelloMessage(spec: HelloSpec): Buffer {
  const extensions: number[] = [];
  if (spec.serverName !== undefined) {
    const name = ascii(spec.serverName);
    const entry = [0, ...u16(name.length), ...name];
    extensions.push(...u16(0), ...vector16(vector16(entry)));
  }
  if (spec.alpn !== undefined) {
    const list = spec.alpn.flatMap((p) => [p.length, ...ascii(p)]);
    extensions.push(...u16(16), ...vector16(vector16(list)));
  }
  if (spec.supportedVersions !== undefined) {
    const list = spec.supportedVersions.flatMap(u16);
    extensions.push(...u16(43), ...vector16([list.length, ...list]));
  }
  if (spec.paddingBytes !== undefined) {
    extensions.push(...u16(21), ...vector16(new Array<number>(spec.paddingBytes).fill(0)));
  }
  const sessionIdLength = spec.sessionIdLength ?? 32;
  const body = [
    3,
    3,
    ...new Array<number>(32).fill(7),
    sessionIdLength,
    ...new Array<number>(sessionIdLength).fill(9),
    ...vector16([0x13, 0x01, 0xc0, 0x2b]),
    1,
    0,
    ...vector16(extensions),
  ];
  return Buffer.from([
    1,
    (body.length >> 16) & 0xff,
    (body.length >> 8) & 0xff,
    body.length & 0xff,
    ...body,
  ]);
}

/** Wraps a handshake message in records whose fragments have the given sizes (the rest in one). */
export function buildRecords(message: Buffer, fragmentSizes: readonly number[] = []): Buffer {
  const records: Buffer[] = [];
  let offset = 0;
  for (const size of fragmentSizes) {
    if (offset >= message.length) break;
    const fragment = message.subarray(offset, Math.min(message.length, offset + Math.max(1, size)));
    records.push(Buffer.from([22, 3, 1, ...u16(fragment.length)]), fragment);
    offset += fragment.length;
  }
  if (offset < message.length) {
    const fragment = message.subarray(offset);
    records.push(Buffer.from([22, 3, 1, ...u16(fragment.length)]), fragment);
  }
  return Buffer.concat(records);
}

/** The first bytes a node:tls client sends (its ClientHello records), captured on a plain socket. */
export async function captureClientHello(options: ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const captured = new Promise<Buffer>((resolve) => {
    server.once("connection", (socket) => {
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        // Record header says how long the (single) record is; stop once it is all here.
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          socket.destroy();
          resolve(all);
        }
      });
    });
  });
  const client = connect({ host: "127.0.0.1", port, ...options });
  client.on("error", () => {});
  const bytes = await captured;
  client.destroy();
  server.close();
  return bytes;
}
