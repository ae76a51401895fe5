// Server-side apply that skips what is already applied: the operator remembers, per object, the hash
// of the body it last applied and the resourceVersion the API server returned. When the body is the
// same and the watched object still has that resourceVersion, nobody changed it since, so the apply
// would be a no-op and is not sent: a resync that changes nothing writes nothing. Any other change
// (ours, or someone editing a field we own) sends the apply again, which restores our fields.
import { createHash } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";
import { formatKey } from "../api/keys.ts";
import type { KubeClient } from "../kube/client.ts";

/** An object as built for apply: kind, apiVersion and metadata.name always set. */
export type ApplyObject = KubernetesObject & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

/** Where the applier reads live resourceVersions (the cache's informers). */
export type LiveVersion = (kind: string, key: string) => string | undefined;

export interface AppliedObject {
  /** Whether a request was sent (false: skipped as unchanged). */
  sent: boolean;
  /** The object as stored (only when sent). */
  stored?: KubernetesObject;
}

export class Applier {
  readonly #client: KubeClient;
  readonly #live: LiveVersion;
  readonly #applied = new Map<string, { hash: string; resourceVersion: string }>();

  constructor(client: KubeClient, live: LiveVersion) {
    this.#client = client;
    this.#live = live;
  }

  /** Applies `object` unless the same body was applied and the live object has not changed since. */
  async apply(
    object: ApplyObject,
    options: { subresource?: "status"; signal?: AbortSignal } = {},
  ): Promise<AppliedObject> {
    const key = formatKey({
      namespace: object.metadata.namespace ?? "",
      name: object.metadata.name,
    });
    const memoKey = `${object.kind}/${options.subresource ?? ""}/${key}`;
    const hash = createHash("sha256").update(JSON.stringify(object)).digest("hex");
    const known = this.#applied.get(memoKey);
    const live = this.#live(object.kind, key);
    if (known?.hash === hash && live !== undefined && live === known.resourceVersion) {
      return { sent: false };
    }
    const stored = await this.#client.apply<ApplyObject>(object, options);
    const resourceVersion = stored.metadata?.resourceVersion;
    if (typeof resourceVersion === "string") this.#applied.set(memoKey, { hash, resourceVersion });
    return { sent: true, stored };
  }

  /** Forgets an object (deleted), so that applying it again is never skipped. */
  forget(kind: string, key: string): void {
    for (const memoKey of this.#applied.keys()) {
      if (memoKey.startsWith(`${kind}/`) && memoKey.endsWith(`/${key}`))
        this.#applied.delete(memoKey);
    }
  }

  /** Forgets everything: a new leadership term starts from what the API server holds. */
  reset(): void {
    this.#applied.clear();
  }
}
