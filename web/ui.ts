// Shared building blocks of the console pages: data loading with the 403 page, tables, notes.
import { h } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { ApiError } from './api.js';

export const html = htm.bind(h);

export interface Loaded<T> { data: T | null; error: ApiError | null; loading: boolean; reload: () => void }

/** Runs `fn` on mount and whenever `deps` change; `reload()` runs it again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then((data) => { if (live) setState({ data, error: null, loading: false }); },
      (e: unknown) => { if (live) setState({ data: null, error: e instanceof ApiError ? e : new ApiError(0, 'NETWORK', String(e), null), loading: false }); });
    return () => { live = false; };
  }, [...deps, n]);
  return { ...state, reload: useCallback(() => setN((x) => x + 1), []) };
}

export function Forbidden() {
  return html`<section aria-labelledby="forbidden-h"><h1 id="forbidden-h">403 — Not allowed</h1>
    <p>Your account can't see this page. If you followed a link from another dealership, ask its admin for access.</p>
    <p><a href="#/">Back to your console</a></p></section>`;
}

/** Renders `ok(data)` once loaded; the 403 page, an error note or a loading line otherwise. */
export function Page<T>({ l, title, children }: { l: Loaded<T>; title: string; children: (d: T) => unknown }) {
  if (l.error?.status === 403) return html`<${Forbidden} />`;
  if (l.error) return html`<section><h1>${title}</h1><p class="error" role="alert">${l.error.code}: ${l.error.message}</p></section>`;
  if (!l.data) return html`<section><h1>${title}</h1><p aria-live="polite">Loading…</p></section>`;
  return html`<section aria-labelledby="page-h"><h1 id="page-h">${title}</h1>${children(l.data)}</section>`;
}

export function Table({ caption, head, rows, empty }: { caption: string; head: string[]; rows: unknown[][]; empty?: string }) {
  if (!rows.length) return html`<p class="muted">${empty ?? 'Nothing here yet.'}</p>`;
  return html`<div class="table-wrap"><table><caption>${caption}</caption>
    <thead><tr>${head.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table></div>`;
}

export const fmtTime = (v: string | null | undefined) => v ? new Date(v).toLocaleString() : '—';
/** Today's date (YYYY-MM-DD) on the dealership's calendar, which is what the API's day filters mean. */
export const today = (timeZone?: string) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());

export function ErrorNote({ error }: { error: ApiError | null }) {
  return error ? html`<p class="error" role="alert">${error.code}: ${error.message}</p>` : null;
}
