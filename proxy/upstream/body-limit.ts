// Enforces maxRequestBodyBytes on a body whose length is not known in advance (HTTP/1.1 chunked,
// HTTP/2 DATA frames): the stream fails as soon as the limit is crossed, before the chunk that
// crosses it is passed on, so a backend never receives more than the limit.
import { Transform, type TransformCallback } from "node:stream";
import { ProxyError } from "./errors.ts";

/** A pass-through stream that errors with PC_BODY_TOO_LARGE once more than `limit` bytes went through. */
export class BodyLimiter extends Transform {
  readonly #limit: number;
  #seen = 0;

  /** @param limit Largest accepted body, in bytes (maxRequestBodyBytes; 0 accepts no body at all). */
  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  /** Bytes passed through so far. */
  get bytes(): number {
    return this.#seen;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) {
      callback(new ProxyError("PC_BODY_TOO_LARGE", `more than ${this.#limit} bytes`));
      return;
    }
    callback(null, chunk);
  }
}
