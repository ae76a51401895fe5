import assert from "node:assert/strict";
import http from "node:http";
import { describe, test } from "node:test";
import { createServer, STATUS_CODES } from "./node-http.ts";

describe("node-http", () => {
  test("hands on node:http's own values", () => {
    assert.equal(createServer, http.createServer);
    assert.equal(STATUS_CODES, http.STATUS_CODES);
  });
});
