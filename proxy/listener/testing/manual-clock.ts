// A TicketClock for tests: time moves only when told, and timers fire as it passes them. Test-only.
import type { TicketClock } from "../tickets.ts";

/** A clock whose time moves only when told, with timers that fire as it passes them. */
export class ManualClock implements TicketClock {
  time: number;
  readonly #timers = new Set<{ at: number; callback: () => void }>();
  constructor(time: number) {
    this.time = time;
  }
  now(): number {
    return this.time;
  }
  schedule(callback: () => void, delayMs: number): () => void {
    const timer = { at: this.time + delayMs, callback };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }
  /** Moves to `time`, firing due timers in order (each may schedule more). Bounded. */
  advanceTo(time: number): void {
    for (let fired = 0; fired < 1000; fired++) {
      const due = [...this.#timers].filter((t) => t.at <= time).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers.delete(due);
      this.time = due.at;
      due.callback();
    }
    this.time = time;
  }
  /** When the next timer fires. */
  get nextAt(): number | undefined {
    return Math.min(...[...this.#timers].map((t) => t.at));
  }
  /** Fires the next timer now, as if the timer came early. */
  fireEarly(): void {
    const next = [...this.#timers].sort((a, b) => a.at - b.at)[0];
    if (!next) return;
    this.#timers.delete(next);
    next.callback();
  }
}
