// Offline admission: objects validated and defaulted exactly as the Kubernetes API server (v1.36)
// would on `kubectl apply`, with the same messages, so that `portcullis check` can refuse what the
// cluster would refuse without a cluster.
export { admitIngress } from "./ingress.ts";
export { admitPolicy, defaultPolicySection } from "./policy.ts";
export type { AdmissionError, AdmissionResult } from "./types.ts";
