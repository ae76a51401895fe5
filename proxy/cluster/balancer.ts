// How an endpoint is picked when no affinity cookie decides, in two levels: a backend (Service) by
// weight, then an endpoint inside it. The caller says which endpoints are usable (eligible, not
// excluded by a retry); the balancer only decides among them. What key to hash (the cookie) is the
// affinity module's business, not this one's.
import type { ClusterConfig } from "../config/types.ts";
import type { EndpointState } from "./endpoint.ts";

/** Whether an endpoint may receive this request. */
export type EndpointFilter = (endpoint: EndpointState) => boolean;

/** Picks one endpoint of a backend. */
export interface EndpointPicker {
  /** One of `endpoints` accepted by `usable`, or undefined when none is. */
  pick(endpoints: readonly EndpointState[], usable: EndpointFilter): EndpointState | undefined;
}

/**
 * Round robin over the usable endpoints: a cursor walks the list and skips unusable ones, so load
 * spreads evenly and an endpoint coming back simply rejoins the rotation.
 */
export class RoundRobinPicker implements EndpointPicker {
  #cursor = 0;

  /**
   * Starts the rotation at index `start`: the previous config's cursor after a swap, or a random one
   * (a cursor reset to 0 on every swap, in every replica, would send the first endpoint more than its share).
   */
  constructor(start = 0) {
    this.#cursor = Number.isSafeInteger(start) && start > 0 ? start : 0;
  }

  /** Where the next pick starts looking (handed to the next config's picker). */
  get cursor(): number {
    return this.#cursor;
  }

  /** The next usable endpoint after the previous pick. */
  pick(endpoints: readonly EndpointState[], usable: EndpointFilter): EndpointState | undefined {
    const count = endpoints.length;
    for (let step = 0; step < count; step++) {
      // The cursor may come from a previous config with more endpoints: wrap it.
      const index = (this.#cursor + step) % count;
      const endpoint = endpoints[index] as EndpointState;
      if (usable(endpoint)) {
        this.#cursor = (index + 1) % count;
        return endpoint;
      }
    }
    return undefined;
  }
}

/**
 * Least request by the power of two choices: two usable endpoints drawn at random, the one with fewer
 * requests in flight wins (the first on a tie). Nearly as good as scanning for the minimum, without
 * the herd effect of every replica sending to the same least-loaded endpoint.
 */
export class LeastRequestPicker implements EndpointPicker {
  readonly #random: () => number;
  /** Reused scratch list of usable endpoints, so a pick allocates nothing. */
  readonly #candidates: EndpointState[] = [];

  /** `random` returns a number in [0, 1), injectable for tests. */
  constructor(random: () => number) {
    this.#random = random;
  }

  /** The less loaded of two random usable endpoints. */
  pick(endpoints: readonly EndpointState[], usable: EndpointFilter): EndpointState | undefined {
    const candidates = this.#candidates;
    candidates.length = 0;
    for (const endpoint of endpoints) if (usable(endpoint)) candidates.push(endpoint);
    const count = candidates.length;
    if (count === 0) return undefined;
    if (count === 1) return candidates[0];
    const first = this.#draw(count);
    // Draw the second among the others so the two choices are distinct.
    let second = this.#draw(count - 1);
    if (second >= first) second++;
    const a = candidates[first] as EndpointState;
    const b = candidates[second] as EndpointState;
    candidates.length = 0;
    return b.health.inFlight < a.health.inFlight ? b : a;
  }

  #draw(bound: number): number {
    return Math.min(bound - 1, Math.floor(this.#random() * bound));
  }
}

/**
 * The endpoint picker a cluster's `balancer` setting asks for. `previous` is the picker of the same
 * backend in the previous config, whose round-robin position carries over; otherwise the rotation
 * starts at a random endpoint of `endpointCount`.
 */
export function createEndpointPicker(
  kind: ClusterConfig["balancer"],
  random: () => number,
  endpointCount: number,
  previous?: EndpointPicker,
): EndpointPicker {
  if (kind === "LeastRequest") return new LeastRequestPicker(random);
  if (previous instanceof RoundRobinPicker) return new RoundRobinPicker(previous.cursor);
  return new RoundRobinPicker(Math.floor(random() * endpointCount));
}

/**
 * Smooth weighted round robin over backends (nginx's algorithm): each pick adds every candidate's weight
 * to its running score, takes the highest score and subtracts the total from it. Weights 1:3 give
 * b, a, b, b — interleaved, not bursts — and the sequence is exact over every cycle. Weight 0 is never
 * picked. A backend the caller marks unusable (no usable endpoint) sits the round out, so its share goes
 * to the others, which is the fall-back to the next backend.
 */
export class WeightedBackendPicker {
  readonly #weights: readonly number[];
  readonly #scores: number[];

  /**
   * One weight per backend, in the cluster's backend order, and optionally their running scores from the
   * previous config (a reset on every config swap would hand the heaviest backend the first pick each time).
   */
  constructor(weights: readonly number[], scores?: readonly number[]) {
    this.#weights = weights;
    this.#scores = weights.map((_, i) => scores?.[i] ?? 0);
  }

  /** The running scores, in backend order (handed to the next config's picker). */
  get scores(): readonly number[] {
    return this.#scores;
  }

  /** Index of the picked backend, or -1 when no backend with a positive weight is usable. */
  pick(usable: (index: number) => boolean): number {
    const weights = this.#weights;
    const scores = this.#scores;
    let best = -1;
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const weight = weights[i] as number;
      if (weight <= 0 || !usable(i)) continue;
      const score = (scores[i] as number) + weight;
      scores[i] = score;
      total += weight;
      if (best === -1 || score > (scores[best] as number)) best = i;
    }
    if (best !== -1) scores[best] = (scores[best] as number) - total;
    return best;
  }
}
