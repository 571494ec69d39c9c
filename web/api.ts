// The console's one door to the server: same-origin fetch with the session cookie, and the session's CSRF
// token on every state-changing request (the server refuses them without it: ACC_ERR_CSRF).

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: unknown) { super(message); }
  /** Field errors from a 400/422 body, keyed by JSON pointer (`/agent/maxCallSec`). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    const errs = (this.details as { errors?: unknown[] } | null)?.errors ?? [];
    for (const e of errs as { path?: string; message?: string; slot?: string; details?: { path?: string } }[]) {
      const path = e.details?.path ?? e.path ?? '/';
      out[path] = out[path] ? `${out[path]}; ${e.message ?? 'invalid'}` : (e.message ?? 'invalid');
    }
    return out;
  }
}

let csrf = '';
export function setCsrf(t: string): void { csrf = t; }

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.error ?? {};
    throw new ApiError(res.status, e.code ?? 'UNKNOWN', e.message ?? res.statusText, e.details);
  }
  return json as T;
}

export const admin = (path: string) => `/admin/v1${path}`;
export const consoleApi = (path: string) => `/console/api${path}`;
