/**
 * The tests' one way to wait for state that has no event to wait on: polls `pred` (sync or async) every
 * `everyMs` until it holds, and rejects after `timeoutMs` naming what it waited for.
 */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition', everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
