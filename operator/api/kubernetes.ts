// Attaches real ObjectMeta to generated CRD types (a CRD schema leaves metadata untyped).
import type { V1ObjectMeta } from "@kubernetes/client-node";

/** A generated CRD type with Kubernetes object metadata. */
export type WithMetadata<T> = Omit<T, "metadata"> & { metadata: V1ObjectMeta };
