import { LINE_NAMES, type LineName, type ScriptedLines } from '../i18n/messages.js';

/** Synthesises one line (the tenant's TTS plugin over REST, through its breaker). */
export type Synthesize = (text: string) => Promise<Buffer>;

interface SlotLines {
  key: string;
  greeting: string;
  lines: ScriptedLines;
  audio: Map<string, Buffer>;
  loading: Promise<void> | null;
}

/**
 * The greeting and scripted lines per tenant and language, synthesised once and kept in memory so the
 * greeting's first frame goes out as the stream starts and the fallback line plays even with TTS down.
 * A slot is `tenantId` plus the call language (voice-service.ts builds it), so a bilingual tenant keeps both
 * sets warm; its key is the config hash + voice, and a config change re-synthesises. Bounded: least
 * recently used slots are evicted.
 */
export class LineCache {
  private readonly bySlot = new Map<string, SlotLines>();

  constructor(private readonly o: { maxTenants?: number; onError?: (e: unknown, text: string) => void } = {}) {}

  private entry(o: { slot: string; key: string; greeting: string; lines: ScriptedLines }): SlotLines {
    let e = this.bySlot.get(o.slot);
    if (!e || e.key !== o.key) {
      e = { key: o.key, greeting: o.greeting, lines: o.lines, audio: new Map(), loading: null };
    }
    // Re-insert: Map order is the LRU order.
    this.bySlot.delete(o.slot);
    this.bySlot.set(o.slot, e);
    // Two languages per tenant at most today, so twice the tenant bound.
    const max = (this.o.maxTenants ?? 500) * 2;
    while (this.bySlot.size > max) this.bySlot.delete(this.bySlot.keys().next().value!);
    return e;
  }

  /** Synthesises whatever is missing (greeting first). Failed lines stay missing and are retried next time. */
  load(o: { slot: string; key: string; greeting: string; lines: ScriptedLines; synthesize: Synthesize }): Promise<void> {
    const e = this.entry(o);
    const texts = [o.greeting, ...LINE_NAMES.map((n) => o.lines[n])].filter((t) => !e.audio.has(t));
    if (texts.length === 0) return Promise.resolve();
    if (e.loading) return e.loading;
    e.loading = (async () => {
      await Promise.all(texts.map(async (text) => {
        try {
          e.audio.set(text, await o.synthesize(text));
        } catch (err) {
          this.o.onError?.(err, text);
        }
      }));
      e.loading = null;
    })();
    return e.loading;
  }

  /** True when the greeting for this config is ready (no synthesis needed before the call can start). */
  ready(slot: string, key: string): boolean {
    const e = this.bySlot.get(slot);
    return !!e && e.key === key && e.audio.has(e.greeting);
  }

  greeting(slot: string, key: string): Buffer | undefined {
    const e = this.bySlot.get(slot);
    return e && e.key === key ? e.audio.get(e.greeting) : undefined;
  }

  line(slot: string, key: string, name: LineName): Buffer | undefined {
    const e = this.bySlot.get(slot);
    return e && e.key === key ? e.audio.get(e.lines[name]) : undefined;
  }
}
