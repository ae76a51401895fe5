// The TLS wire format the listener reads and writes before any TLS library sees the connection:
// parsing a ClientHello (to route by SNI without decrypting) and encoding a plaintext alert.
//
// Pure and allocation-light: the caller accumulates bytes and calls parseClientHello again when
// more arrive. The parser is strict where OpenSSL is strict (a malformed hello would be refused by
// the TLS server or the passthrough backend anyway) so that what it reports is what a TLS stack
// would have seen: one handshake message, possibly split over several records, each record itself
// possibly split over several TCP segments.

/** Largest ClientHello accepted, records and headers included: 16 KiB. Real ones are 0.5–2 KiB. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
/** RFC 8446 §5.1: a plaintext record fragment is at most 2^14 bytes. */
const MAX_RECORD_FRAGMENT = 16 * 1024;
const CONTENT_TYPE_HANDSHAKE = 22;
const CONTENT_TYPE_ALERT = 21;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const EXTENSION_SUPPORTED_VERSIONS = 43;
const SERVER_NAME_TYPE_HOST = 0;
const MAX_HOST_NAME_BYTES = 255;

/** What the listener needs from a ClientHello. */
export interface ClientHello {
  /** The SNI host_name as sent (not normalised), or undefined when the client sent none. */
  readonly serverName: string | undefined;
  /** ALPN protocols offered, in client order; empty when the extension is absent. */
  readonly alpnProtocols: readonly string[];
  /** legacy_version of the hello (0x0303 for TLS 1.2 and 1.3 clients). */
  readonly legacyVersion: number;
  /** Versions from supported_versions (0x0304 = TLS 1.3); empty when the extension is absent. */
  readonly supportedVersions: readonly number[];
  /** Bytes of input the records carrying the hello occupy (anything after belongs to later records). */
  readonly recordBytes: number;
}

/** Why a ClientHello was refused. */
export type ClientHelloProblem = "malformed" | "too-large";

/** Result of parsing what has arrived so far. */
export type ClientHelloParse =
  | { readonly status: "complete"; readonly hello: ClientHello }
  | { readonly status: "incomplete" }
  | { readonly status: "invalid"; readonly problem: ClientHelloProblem; readonly reason: string };

class Malformed extends Error {}

/** A bounds-checked big-endian reader over a byte range. */
class Cursor {
  #offset: number;
  readonly #end: number;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#offset = start;
    this.#end = end;
  }

  get remaining(): number {
    return this.#end - this.#offset;
  }

  #need(count: number, what: string): void {
    if (count > this.remaining) throw new Malformed(`truncated ${what}`);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#bytes[this.#offset++] as number;
  }

  u16(what: string): number {
    this.#need(2, what);
    const value =
      ((this.#bytes[this.#offset] as number) << 8) | (this.#bytes[this.#offset + 1] as number);
    this.#offset += 2;
    return value;
  }

  skip(count: number, what: string): void {
    this.#need(count, what);
    this.#offset += count;
  }

  /** A sub-cursor over the next `length` bytes, which this cursor then skips. */
  take(length: number, what: string): Cursor {
    this.#need(length, what);
    const sub = new Cursor(this.#bytes, this.#offset, this.#offset + length);
    this.#offset += length;
    return sub;
  }

  /** A sub-cursor over a vector with a 1- or 2-byte length prefix. */
  vector(lengthBytes: 1 | 2, what: string): Cursor {
    const length = lengthBytes === 1 ? this.u8(what) : this.u16(what);
    return this.take(length, what);
  }

  ascii(length: number, what: string): string {
    this.#need(length, what);
    let text = "";
    for (let i = 0; i < length; i++) {
      const byte = this.#bytes[this.#offset + i] as number;
      // Printable ASCII only: a NUL or control byte in a name is how SNI-confusion attacks start.
      if (byte < 0x21 || byte > 0x7e) throw new Malformed(`non-printable byte in ${what}`);
      text += String.fromCharCode(byte);
    }
    this.#offset += length;
    return text;
  }
}

/**
 * Parses the TLS records at the start of `data` as a ClientHello. Returns "incomplete" while more
 * bytes could complete it, "invalid" as soon as they cannot (wrong record type, bad lengths, a
 * second message, more than `maxBytes` needed), and the parsed hello once the whole handshake
 * message has arrived.
 */
export function parseClientHello(
  data: Uint8Array,
  maxBytes: number = MAX_CLIENT_HELLO_BYTES,
): ClientHelloParse {
  const fragments: Uint8Array[] = [];
  let handshakeBytes = 0;
  let messageLength: number | undefined;
  let offset = 0;
  try {
    for (;;) {
      if (data.length - offset < RECORD_HEADER_BYTES) {
        return data.length >= maxBytes ? tooLarge("record header beyond the limit") : incomplete;
      }
      const contentType = data[offset] as number;
      if (contentType !== CONTENT_TYPE_HANDSHAKE) {
        if (offset === 0 && (contentType & 0x80) !== 0) {
          throw new Malformed("SSLv2-compatible ClientHello is not supported");
        }
        throw new Malformed(`record type ${contentType} before the ClientHello ended`);
      }
      if (data[offset + 1] !== 3) throw new Malformed("record version is not 3.x");
      const fragmentLength = ((data[offset + 3] as number) << 8) | (data[offset + 4] as number);
      // RFC 8446 §5.1: zero-length handshake fragments are forbidden; 2^14 is the plaintext limit.
      if (fragmentLength === 0) throw new Malformed("empty handshake record");
      if (fragmentLength > MAX_RECORD_FRAGMENT) throw new Malformed("record longer than 2^14");
      const recordEnd = offset + RECORD_HEADER_BYTES + fragmentLength;
      if (recordEnd > maxBytes) return tooLarge(`records need more than ${maxBytes} bytes`);
      const fragment = data.subarray(
        offset + RECORD_HEADER_BYTES,
        Math.min(recordEnd, data.length),
      );
      if (
        messageLength === undefined &&
        handshakeBytes + fragment.length >= HANDSHAKE_HEADER_BYTES
      ) {
        // Judge the message header as soon as it is here, even mid-record: a hello announcing more
        // than the limit is refused without waiting for (and buffering) the rest of it.
        messageLength = readMessageHeader(concat([...fragments, fragment], HANDSHAKE_HEADER_BYTES));
        if (messageLength + HANDSHAKE_HEADER_BYTES > maxBytes) {
          return tooLarge(`ClientHello of ${messageLength} bytes`);
        }
      }
      if (recordEnd > data.length) return incomplete;
      fragments.push(fragment);
      handshakeBytes += fragmentLength;
      offset = recordEnd;

      if (messageLength !== undefined) {
        const total = HANDSHAKE_HEADER_BYTES + messageLength;
        if (handshakeBytes > total) {
          // OpenSSL refuses a record that carries more than the ClientHello, and so do we.
          throw new Malformed("handshake data after the ClientHello");
        }
        if (handshakeBytes === total) {
          const message = concat(fragments, total);
          const hello = parseBody(new Cursor(message, HANDSHAKE_HEADER_BYTES, total));
          return { status: "complete", hello: { ...hello, recordBytes: offset } };
        }
      }
    }
  } catch (error) {
    if (error instanceof Malformed)
      return { status: "invalid", problem: "malformed", reason: error.message };
    throw error;
  }
}

/** The body length from a handshake header, which must announce a ClientHello. */
function readMessageHeader(header: Uint8Array): number {
  if (header[0] !== HANDSHAKE_CLIENT_HELLO) {
    throw new Malformed(`first handshake message is type ${header[0]}, not ClientHello`);
  }
  return ((header[1] as number) << 16) | ((header[2] as number) << 8) | (header[3] as number);
}

const incomplete: ClientHelloParse = Object.freeze({ status: "incomplete" });

function tooLarge(reason: string): ClientHelloParse {
  return { status: "invalid", problem: "too-large", reason };
}

/** The first `length` bytes of the concatenated fragments (no copy when one fragment holds them). */
function concat(fragments: readonly Uint8Array[], length: number): Uint8Array {
  const first = fragments[0];
  if (first !== undefined && first.length >= length) return first.subarray(0, length);
  const out = new Uint8Array(length);
  let filled = 0;
  for (const fragment of fragments) {
    const part = fragment.subarray(0, length - filled);
    out.set(part, filled);
    filled += part.length;
    if (filled === length) break;
  }
  return out;
}

/** RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, which has the same layout). */
function parseBody(body: Cursor): Omit<ClientHello, "recordBytes"> {
  const legacyVersion = body.u16("legacy_version");
  if (legacyVersion >> 8 !== 3) throw new Malformed("legacy_version is not 3.x");
  body.skip(32, "random");
  const sessionId = body.vector(1, "legacy_session_id");
  if (sessionId.remaining > 32) throw new Malformed("session id longer than 32 bytes");
  const cipherSuites = body.vector(2, "cipher_suites");
  if (cipherSuites.remaining < 2 || cipherSuites.remaining % 2 !== 0) {
    throw new Malformed("cipher_suites length is not a positive even number");
  }
  const compression = body.vector(1, "legacy_compression_methods");
  if (compression.remaining < 1) throw new Malformed("no compression methods");

  let serverName: string | undefined;
  let alpnProtocols: string[] = [];
  let supportedVersions: number[] = [];
  // A hello may end right after compression methods (no extensions: old TLS 1.2 clients).
  if (body.remaining > 0) {
    const extensions = body.vector(2, "extensions");
    if (body.remaining !== 0) throw new Malformed("bytes after the extensions");
    const seen = new Set<number>();
    while (extensions.remaining > 0) {
      const type = extensions.u16("extension type");
      const data = extensions.vector(2, "extension data");
      // RFC 8446 §4.2: duplicates are forbidden, and servers (OpenSSL too) abort on them.
      if (seen.has(type)) throw new Malformed(`duplicate extension ${type}`);
      seen.add(type);
      if (type === EXTENSION_SERVER_NAME) serverName = parseServerName(data);
      else if (type === EXTENSION_ALPN) alpnProtocols = parseAlpn(data);
      else if (type === EXTENSION_SUPPORTED_VERSIONS)
        supportedVersions = parseSupportedVersions(data);
    }
  } else if (body.remaining !== 0) {
    throw new Malformed("bytes after the compression methods");
  }
  return { serverName, alpnProtocols, legacyVersion, supportedVersions };
}

/** RFC 6066 §3: a list of (type, name); at most one host_name. */
function parseServerName(data: Cursor): string | undefined {
  const list = data.vector(2, "server_name_list");
  if (data.remaining !== 0) throw new Malformed("bytes after server_name_list");
  if (list.remaining === 0) throw new Malformed("empty server_name_list");
  let hostName: string | undefined;
  while (list.remaining > 0) {
    const nameType = list.u8("server name type");
    const length = list.u16("server name length");
    if (nameType !== SERVER_NAME_TYPE_HOST) {
      list.skip(length, "server name");
      continue;
    }
    if (hostName !== undefined) throw new Malformed("more than one host_name");
    if (length === 0 || length > MAX_HOST_NAME_BYTES)
      throw new Malformed("host_name length out of range");
    hostName = list.ascii(length, "host_name");
  }
  return hostName;
}

/** RFC 7301 §3.1: a non-empty list of non-empty protocol names. */
function parseAlpn(data: Cursor): string[] {
  const list = data.vector(2, "protocol_name_list");
  if (data.remaining !== 0) throw new Malformed("bytes after protocol_name_list");
  const protocols: string[] = [];
  while (list.remaining > 0) {
    const length = list.u8("protocol name length");
    if (length === 0) throw new Malformed("empty ALPN protocol name");
    const name = list.take(length, "protocol name");
    let text = "";
    while (name.remaining > 0) text += String.fromCharCode(name.u8("protocol name"));
    protocols.push(text);
  }
  if (protocols.length === 0) throw new Malformed("empty ALPN list");
  return protocols;
}

/** RFC 8446 §4.2.1: a 1-byte-length list of 2-byte versions. */
function parseSupportedVersions(data: Cursor): number[] {
  const list = data.vector(1, "supported_versions");
  if (data.remaining !== 0) throw new Malformed("bytes after supported_versions");
  if (list.remaining < 2 || list.remaining % 2 !== 0)
    throw new Malformed("bad supported_versions length");
  const versions: number[] = [];
  while (list.remaining > 0) versions.push(list.u16("version"));
  return versions;
}

/** TLS alert descriptions the listener sends itself (RFC 8446 §6). */
export const TlsAlert = {
  /** No acceptable set of security parameters. */
  HandshakeFailure: 40,
  /** A failure unrelated to the peer (here: the passthrough backend is unreachable). */
  InternalError: 80,
  /** No certificate or host for the requested server name (RFC 6066 §3). */
  UnrecognizedName: 112,
} as const;

/** One of the TlsAlert values. */
export type TlsAlertDescription = (typeof TlsAlert)[keyof typeof TlsAlert];

/**
 * A plaintext fatal alert record. Legal only before the server has sent anything (no keys exist yet),
 * which is exactly when the listener uses it: answering a ClientHello it will not serve.
 */
export function encodeFatalAlert(description: TlsAlertDescription): Buffer {
  // Record version 3.3 (TLS 1.2): what TLS 1.3 servers also put on plaintext records.
  return Buffer.from([CONTENT_TYPE_ALERT, 3, 3, 0, 2, 2, description]);
}
