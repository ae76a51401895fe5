import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadManifests, MAX_MANIFEST_BYTES, parseManifests } from "./manifests.ts";

describe("parseManifests", () => {
  test("keeps the line each document's object starts at", () => {
    const text = [
      "# leading comment",
      "apiVersion: v1", // 2
      "kind: Service",
      "metadata: { name: a }",
      "---",
      "", // 6
      "# comment inside the document",
      "apiVersion: v1", // 8
      "kind: Service",
      "metadata: { name: b }",
      "---",
      "---", // an empty document is skipped
      "",
    ].join("\n");
    const { objects, problems } = parseManifests(text, "x.yaml");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      objects.map((o) => [o.origin.line, (o.object.metadata as { name: string }).name]),
      [
        [2, "a"],
        [8, "b"],
      ],
    );
    assert.equal(objects[0]?.origin.file, "x.yaml");
  });

  test("expands kind: List and typed lists, with each item's line", () => {
    const text = [
      "apiVersion: v1",
      "kind: List",
      "items:",
      "  - apiVersion: v1", // 4
      "    kind: Service",
      "    metadata: { name: a }",
      "  - apiVersion: v1", // 7
      "    kind: Secret",
      "    metadata: { name: b }",
      "---",
      "apiVersion: v1", // 11
      "kind: ServiceList",
      "items:",
      "  - metadata: { name: c }", // 14
    ].join("\n");
    const { objects, problems } = parseManifests(text, "list.yaml");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      objects.map((o) => [
        o.origin.line,
        o.object.kind,
        (o.object.metadata as { name: string }).name,
      ]),
      [
        [4, "Service", "a"],
        [7, "Secret", "b"],
        [14, "Service", "c"],
      ],
    );
    assert.equal(objects[2]?.object.apiVersion, "v1");
  });

  test("reports parse errors with their line and keeps the other documents", () => {
    const text = [
      "apiVersion: v1",
      "kind: Service",
      "metadata: { name: a }",
      "---",
      "apiVersion: v1", // 5
      "kind: Service",
      "kind: Secret", // 7: duplicate key
      "---",
      "apiVersion: v1", // 9
      "kind: Service",
      "metadata: { name: c }",
    ].join("\n");
    const { objects, problems } = parseManifests(text, "bad.yaml");
    assert.equal(objects.length, 2);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.file, "bad.yaml");
    assert.equal(problems[0]?.line, 7);
    assert.equal(problems[0]?.severity, "Error");
    assert.match(problems[0]?.message ?? "", /unique/);
  });

  test("a document that is not a mapping is a problem, not an exception", () => {
    const { objects, problems } = parseManifests("- a\n- b\n---\njust text\n", "odd.yaml");
    assert.equal(objects.length, 0);
    assert.deepEqual(
      problems.map((p) => p.line),
      [1, 4],
    );
  });

  test("reads scalars as kubectl does (YAML 1.1) but keeps timestamps as strings", () => {
    const { objects } = parseManifests(
      "a: yes\nb: off\nc: 010\nd: 2024-01-01T00:00:00Z\ne: '010'\n",
      "scalars.yaml",
    );
    assert.deepEqual(objects[0]?.object, {
      a: true,
      b: false,
      c: 8,
      d: "2024-01-01T00:00:00Z",
      e: "010",
    });
  });

  test("reads JSON, tabs included", () => {
    const { objects, problems } = parseManifests(
      '{\n\t"apiVersion": "v1",\n\t"kind": "Service",\n\t"metadata": {"name": "j"}\n}\n',
      "x.json",
    );
    assert.deepEqual(problems, []);
    assert.equal(objects[0]?.origin.line, 1);
    assert.equal(objects[0]?.object.kind, "Service");
  });

  test("refuses alias bombs", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 10; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const { objects, problems } = parseManifests(lines.join("\n"), "bomb.yaml");
    assert.equal(objects.length, 0);
    assert.equal(problems.length, 1);
  });
});

describe("loadManifests", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "portcullis-manifests-"));
    const service = (name: string): string =>
      `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\n`;
    await mkdir(join(dir, "tree/b-dir"), { recursive: true });
    await mkdir(join(dir, "tree/.hidden"), { recursive: true });
    await writeFile(join(dir, "tree/z.yaml"), service("z"));
    await writeFile(join(dir, "tree/a.yml"), service("a"));
    await writeFile(
      join(dir, "tree/b-dir/m.json"),
      JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "m" } }),
    );
    await writeFile(join(dir, "tree/notes.txt"), "not a manifest");
    await writeFile(join(dir, "tree/.hidden/h.yaml"), service("h"));
    await symlink(join(dir, "tree"), join(dir, "tree/b-dir/loop"));
    await mkdir(join(dir, "empty"));
    await writeFile(join(dir, "big.yaml"), Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("walks directories recursively in name order, skipping hidden entries, other extensions and loops", async () => {
    const { objects, problems, files } = await loadManifests([join(dir, "tree")]);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      files.map((f) => f.slice(dir.length + 1)),
      ["tree/a.yml", "tree/b-dir/m.json", "tree/z.yaml"],
    );
    assert.deepEqual(
      objects.map((o) => (o.object.metadata as { name: string }).name),
      ["a", "m", "z"],
    );
  });

  test("reads a file once however often it is named", async () => {
    const { files } = await loadManifests([join(dir, "tree/z.yaml"), join(dir, "tree")]);
    assert.equal(files.length, 3);
    assert.equal(files[0], join(dir, "tree/z.yaml"));
  });

  test("reports missing paths, oversized files and empty directories without throwing", async () => {
    const { objects, problems } = await loadManifests([
      join(dir, "missing.yaml"),
      join(dir, "big.yaml"),
      join(dir, "empty"),
    ]);
    assert.equal(objects.length, 0);
    assert.deepEqual(
      problems.map((p) => [p.file?.slice(dir.length + 1), p.severity, p.line]),
      [
        ["missing.yaml", "Error", undefined],
        ["big.yaml", "Error", undefined],
        ["empty", "Warning", undefined],
      ],
    );
    assert.match(problems[0]?.message ?? "", /no such file/);
    assert.match(problems[1]?.message ?? "", /larger than 8 MiB/);
  });

  test("reads standard input for -", async () => {
    const { objects, files } = await loadManifests(["-"], {
      readStdin: async () => Buffer.from("apiVersion: v1\nkind: Service\nmetadata: { name: s }\n"),
    });
    assert.deepEqual(files, ["<stdin>"]);
    assert.deepEqual(objects[0]?.origin, { file: "<stdin>", line: 1 });
  });
});
