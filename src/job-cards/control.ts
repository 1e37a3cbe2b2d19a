/**
 * Cancel and the point of no return, for processors.
 *
 * `/xen cancel` and the card's Cancel button go through JobQueues.cancel, which aborts the processor's
 * signal (BullMQ's, in whichever worker runs the job). A processor wraps that signal in a JobControl and
 * passes `control.signal` to its remote commands, so the SSH runner ends the remote command on cancel.
 *
 * Before a step that must not be interrupted (the guest is moving, the node is being fenced), the
 * processor calls `await control.pointOfNoReturn("why")`. From then on:
 *   - the marker is in the job data (`pointOfNoReturn: {at, reason}`), so cancel answers "it will finish
 *     and verify" instead of "cancelling";
 *   - `control.signal` no longer aborts: the job finishes its steps and verifies;
 *   - a cancel that arrives anyway is noted on the card ("cancel requested after the point of no return").
 * `pointOfNoReturn` throws JobCancelled when a cancel came first: the destructive part never starts.
 */
import type { Job } from "bullmq";
import type { JobCard } from "./card";

export const POINT_OF_NO_RETURN_FIELD = "pointOfNoReturn";

export interface PointOfNoReturn {
  /** ISO time it was passed. */
  at: string;
  reason: string;
}

/** The marker in a job's data, if the job passed its point of no return. */
export function pointOfNoReturnOf(data: unknown): PointOfNoReturn | null {
  if (typeof data !== "object" || data === null) return null;
  const marker = (data as Record<string, unknown>)[POINT_OF_NO_RETURN_FIELD];
  if (typeof marker !== "object" || marker === null) return null;
  const { at, reason } = marker as Record<string, unknown>;
  return typeof at === "string" && typeof reason === "string" ? { at, reason } : null;
}

/** The abort reason JobQueues.cancel carries for a user's cancel. */
export function cancelReason(userId: string): string {
  return `by ${userId}`;
}

/** Who cancelled, from an abort reason made by cancelReason (null: unknown or xenops itself). */
export function cancelledBy(reason: unknown): string | null {
  const text = typeof reason === "string" ? reason : reason instanceof Error ? reason.message : "";
  return /^(?:cancelled:? )?by ([A-Za-z0-9_-]+)$/.exec(text.trim())?.[1] ?? null;
}

/** Thrown by JobControl when the job was cancelled before its point of no return. */
export class JobCancelled extends Error {
  constructor(
    readonly by: string | null,
    readonly reason: string,
  ) {
    super(by ? `cancelled by ${by}` : reason || "cancelled");
    this.name = "JobCancelled";
  }
}

export interface CancelRequest {
  by: string | null;
  reason: string;
  /** It came after the point of no return (and was not acted upon). */
  tooLate: boolean;
}

export class JobControl {
  private readonly inner = new AbortController();
  private marker: PointOfNoReturn | null;
  private request: CancelRequest | null = null;
  private readonly detach: () => void;

  constructor(
    private readonly job: Job,
    source: AbortSignal | undefined,
    private readonly card?: JobCard,
  ) {
    this.marker = pointOfNoReturnOf(job.data);
    const onAbort = () => this.onCancel(source?.reason);
    source?.addEventListener("abort", onAbort, { once: true });
    this.detach = () => source?.removeEventListener("abort", onAbort);
    if (source?.aborted) onAbort();
  }

  /** Aborts on cancel before the point of no return; never after it. Pass it to remote commands. */
  get signal(): AbortSignal {
    return this.inner.signal;
  }

  get cancelRequest(): CancelRequest | null {
    return this.request;
  }

  get cancelled(): boolean {
    return this.inner.signal.aborted;
  }

  get pastPointOfNoReturn(): PointOfNoReturn | null {
    return this.marker;
  }

  throwIfCancelled(): void {
    if (this.inner.signal.aborted)
      throw new JobCancelled(this.request?.by ?? null, this.request?.reason ?? "cancelled");
  }

  /**
   * Marks the point of no return (job data and card). Throws JobCancelled if the job was cancelled
   * already; after it returns, cancel requests no longer abort `signal`.
   */
  async pointOfNoReturn(reason: string): Promise<void> {
    this.throwIfCancelled();
    if (this.marker) return;
    // Synchronously, before any await: a cancel arriving from here on is "too late".
    this.marker = { at: new Date().toISOString(), reason };
    this.card?.pointOfNoReturn(reason);
    await this.job.updateData({ ...(this.job.data as object), [POINT_OF_NO_RETURN_FIELD]: this.marker });
  }

  dispose(): void {
    this.detach();
  }

  private onCancel(reason: unknown): void {
    if (this.request) return;
    const text = typeof reason === "string" ? reason : reason instanceof Error ? reason.message : "cancelled";
    const by = cancelledBy(reason);
    if (this.marker) {
      this.request = { by, reason: text, tooLate: true };
      this.card?.cancelTooLate(by);
      return;
    }
    this.request = { by, reason: text, tooLate: false };
    this.inner.abort(reason);
  }
}
