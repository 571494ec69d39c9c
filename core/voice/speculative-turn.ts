/**
 * The gate of one caller turn whose request went to the model before the caller was surely done.
 *
 * Why: the STT's endpointing is short, so the model is asked as soon as a stable final looks like a whole
 * request, and its first-token time overlaps the silence a slower agent would still be waiting out. What the
 * turn produces (clauses, lines) is held until the turn is committed, and tools wait for the commit, so a
 * caller who goes on talking costs only an aborted stream: nothing is spoken twice, nothing is done twice,
 * and the turn is never counted (a withdrawn turn leaves no trace in the conversation either).
 *
 * The commit comes with the first output once `holdMs` has passed since the final (a real model's first token
 * takes longer than that, so the hold is free), at the hold's end if output is already waiting, or at once on
 * an unmistakable end (UtteranceEnd, `#`). Non-speculative turns use `holdMs: 0` and commit at the start.
 */
export class SpeculativeTurn {
  private state: 'pending' | 'committed' | 'withdrawn' = 'pending';
  private held: Array<() => void> = [];
  private holdOver: boolean;
  /** Tools are waiting: commit as soon as the hold allows, even with nothing to say yet. */
  private wanted = false;
  private timer: NodeJS.Timeout | null = null;
  private waiters: Array<() => void> = [];

  constructor(private readonly o: { holdMs: number; onCommit: () => void }) {
    this.holdOver = o.holdMs <= 0;
    if (!this.holdOver) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.holdOver = true;
        if (this.held.length > 0 || this.wanted) this.commit();
      }, o.holdMs);
      this.timer.unref();
    }
  }

  get pending(): boolean { return this.state === 'pending'; }
  get withdrawn(): boolean { return this.state === 'withdrawn'; }

  /** Runs `fn` now if committed, once committed if pending (committing if the hold is over), never if withdrawn. */
  output(fn: () => void): void {
    if (this.state === 'committed') { fn(); return; }
    if (this.state === 'withdrawn') return;
    this.held.push(fn);
    if (this.holdOver) this.commit();
  }

  /** Resolves when committed or withdrawn (the caller checks which); asking for it counts as output. */
  settled(): Promise<void> {
    if (this.state !== 'pending') return Promise.resolve();
    this.wanted = true;
    const p = new Promise<void>((r) => this.waiters.push(r));
    if (this.holdOver) this.commit();
    return p;
  }

  commit(): void {
    if (this.state !== 'pending') return;
    this.state = 'committed';
    this.stopTimer();
    this.o.onCommit();
    const held = this.held;
    this.held = [];
    for (const fn of held) fn();
    this.release();
  }

  withdraw(): void {
    if (this.state !== 'pending') return;
    this.state = 'withdrawn';
    this.stopTimer();
    this.held = [];
    this.release();
  }

  private stopTimer(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
  }

  private release(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
