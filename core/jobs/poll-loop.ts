/**
 * The timer of a background pass loop (the calendar-sync and email outboxes, the reminder drain, the usage rollup): one pass at a
 * time, never two; the next pass is timed when one ends, with the delay the pass returns (0 when it claimed a full
 * batch and more is due); `close()` stops the timer and waits for the pass in flight. The loops differ only in
 * what a pass does, which stays with its owner.
 */
export class PollLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  /**
   * `pass` does one round and returns the delay (ms) before the next. It handles its own failures (a log line
   * saying what is retried); a pass that throws anyway is retried after `fallbackMs`, so the loop never dies.
   */
  constructor(private readonly o: { pass: () => Promise<number>; fallbackMs: number; onError: (e: Error) => void }) {}

  start(): void {
    if (this.closed || this.timer || this.running) return;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.o.pass()
        .catch((e: Error) => { this.o.onError(e); return this.o.fallbackMs; })
        .then((next) => { this.running = undefined; this.schedule(next); });
    }, ms);
    // A loop never keeps the process alive on its own: shutdown closes it explicitly.
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
