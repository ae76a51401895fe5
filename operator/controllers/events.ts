// Kubernetes Events (events.k8s.io/v1) for what users should see with `kubectl describe` or
// `kubectl events`: a problem found in their object (Warning, once per distinct problem and
// generation, not on every resync), and a change served (Normal). Failing to record an Event is logged
// and never fails a reconcile: Events are a courtesy, the status is the record.
import { randomBytes } from "node:crypto";
import type { KubeClient } from "../kube/client.ts";
import { describeError } from "../kube/errors.ts";
import { formatMicroTime } from "../kube/lease.ts";
import type { Logger } from "../kube/logger.ts";

/** The object an Event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/** One Event to record. */
export interface EventIntent {
  subject: EventSubject;
  type: "Normal" | "Warning";
  /** PascalCase, from the one list of reasons (compiler/reasons.ts). */
  reason: string;
  /** What the operator was doing: "Compile", "Apply", "Program". */
  action: string;
  /** The note users read (≤ 1 KiB; longer is cut). */
  note: string;
}

/** Name of the reporting controller in every Event. */
export const REPORTING_CONTROLLER = "portcullis.dev/operator";
const MAX_NOTE = 1024;
const MAX_NAME_PREFIX = 253 - 17;

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #logger: Logger;
  readonly #instance: string;
  /** Signatures recorded per object (kind/namespace/name/uid): each is recorded once. */
  readonly #recorded = new Map<string, Set<string>>();

  constructor(client: KubeClient, logger: Logger, instance: string) {
    this.#client = client;
    this.#logger = logger;
    this.#instance = instance;
  }

  /**
   * Records each Event not recorded before for its object with the same `signature` (the caller
   * includes the generation, so a problem that persists into a new generation is told again).
   * `current` lists every signature still true, so one that went away and comes back is told again.
   */
  async record(
    events: readonly { intent: EventIntent; signature: string }[],
    signal: AbortSignal,
  ): Promise<void> {
    const current = new Map<string, Set<string>>();
    for (const { intent, signature } of events) {
      const object = objectId(intent.subject);
      const seen = current.get(object) ?? new Set<string>();
      current.set(object, seen);
      // Remembered only once recorded: an Event that failed is tried again on the next compile.
      if (this.#recorded.get(object)?.has(signature) || (await this.#create(intent, signal)))
        seen.add(signature);
    }
    this.#recorded.clear();
    for (const [object, signatures] of current) this.#recorded.set(object, signatures);
  }

  /** Records one Event now (for changes: nothing to de-duplicate). */
  async emit(intent: EventIntent, signal: AbortSignal): Promise<void> {
    await this.#create(intent, signal);
  }

  /** Creates the Event; false (logged) if that failed. */
  async #create(intent: EventIntent, signal: AbortSignal): Promise<boolean> {
    const { subject } = intent;
    const note =
      intent.note.length > MAX_NOTE ? `${intent.note.slice(0, MAX_NOTE - 3)}...` : intent.note;
    try {
      await this.#client.create(
        {
          apiVersion: "events.k8s.io/v1",
          kind: "Event",
          metadata: {
            // Names are at most 253 characters: keep room for the 17-character suffix.
            name: `${subject.name.slice(0, MAX_NAME_PREFIX)}.${randomBytes(8).toString("hex")}`,
            // Events about cluster-scoped objects (the IngressClass) go to "default", as kubectl expects.
            namespace: subject.namespace === "" ? "default" : subject.namespace,
          },
          eventTime: formatMicroTime(new Date()),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.#instance,
          action: intent.action,
          reason: intent.reason,
          type: intent.type,
          note,
          regarding: {
            apiVersion: subject.apiVersion,
            kind: subject.kind,
            namespace: subject.namespace,
            name: subject.name,
            ...(subject.uid === undefined ? {} : { uid: subject.uid }),
          },
        },
        signal,
      );
      return true;
    } catch (error) {
      this.#logger.warn("Failed to record Event", {
        kind: subject.kind,
        namespace: subject.namespace,
        name: subject.name,
        reason: intent.reason,
        error: describeError(error),
      });
      return false;
    }
  }
}

function objectId(subject: EventSubject): string {
  return `${subject.kind}/${subject.namespace}/${subject.name}/${subject.uid ?? ""}`;
}
