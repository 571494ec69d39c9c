/**
 * How a vendor failure is classified at the plugin boundary. Core decides retry, breaker and what the caller
 * hears from the category alone, so a plugin never leaks a vendor's error type.
 */
export type ErrorCategory =
  | 'auth' | 'forbidden' | 'invalid_request' | 'not_found' | 'conflict' | 'rate_limit' | 'quota'
  | 'connectivity' | 'timeout' | 'upstream' | 'unknown';

const RETRYABLE: ReadonlySet<ErrorCategory> = new Set(['rate_limit', 'connectivity', 'timeout', 'upstream']);

/**
 * The one error a plugin throws. Messages must not contain PII (names, phones, VINs).
 *
 * @example
 * ```ts
 * if (res.status === 404) throw new PluginError('not_found', 'person not found', { provider: 'twenty', status: 404 });
 * ```
 */
export class PluginError extends Error {
  /** What kind of failure this is; drives retry, breaker and fallback decisions in core. */
  readonly category: ErrorCategory;
  /** Whether repeating the same call may succeed. Defaults from the category; override when you know better. */
  readonly retryable: boolean;
  /** Vendor name, e.g. `twenty`, `google`. */
  readonly provider?: string;
  /** HTTP status when the failure came from an HTTP response. */
  readonly status?: number;
  /** The vendor's request id, for support tickets. */
  readonly providerRequestId?: string;
  constructor(category: ErrorCategory, message: string, o: { provider?: string; status?: number; providerRequestId?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: o.cause });
    this.name = 'PluginError';
    this.category = category;
    this.retryable = o.retryable ?? RETRYABLE.has(category);
    this.provider = o.provider;
    this.status = o.status;
    this.providerRequestId = o.providerRequestId;
  }
}

/** True for a PluginError (also across duplicated module copies, which `instanceof` would miss). */
export function isPluginError(e: unknown): e is PluginError {
  return e instanceof PluginError || (e instanceof Error && e.name === 'PluginError' && 'category' in e);
}

/**
 * Maps an HTTP status to a category. 4xx is permanent except 408, 425, 429 and 499.
 *
 * @example
 * ```ts
 * if (!res.ok) throw fromHttpStatus(res.status, 'twenty people lookup failed', { provider: 'twenty' });
 * ```
 */
export function fromHttpStatus(status: number, message: string, o: { provider?: string; providerRequestId?: string; cause?: unknown } = {}): PluginError {
  let category: ErrorCategory;
  if (status === 401) category = 'auth';
  else if (status === 403) category = 'forbidden';
  else if (status === 404) category = 'not_found';
  else if (status === 409) category = 'conflict';
  else if (status === 429) category = 'rate_limit';
  else if (status === 408 || status === 499 || status === 504) category = 'timeout';
  else if (status === 425) category = 'upstream';
  else if (status >= 400 && status < 500) category = 'invalid_request';
  else if (status >= 500) category = 'upstream';
  else category = 'unknown';
  return new PluginError(category, message, { ...o, status });
}

function causeCode(e: unknown): string | undefined {
  let cur = (e as { cause?: unknown } | undefined)?.cause;
  for (let depth = 0; cur && depth < 3; depth++, cur = (cur as { cause?: unknown }).cause) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONN|ENOTFOUND|EAI_|EPIPE|ETIMEDOUT|UND_ERR)/.test(code)) return code;
  }
  return undefined;
}

/**
 * Classifies anything thrown by fetch or a vendor SDK that isn't already a PluginError: aborts become
 * `timeout`, socket errors `connectivity`, objects with a numeric `status`/`statusCode` go through fromHttpStatus.
 */
export function toPluginError(e: unknown, provider: string): PluginError {
  if (isPluginError(e)) return e;
  const err = e as { name?: string; code?: string; status?: unknown; statusCode?: unknown; message?: string } | undefined;
  const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : undefined;
  if (status !== undefined) return fromHttpStatus(status, `${provider} request failed (${status})`, { provider, cause: e });
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return new PluginError('timeout', `${provider} request timed out`, { provider, cause: e });
  if (err?.code && /^(ECONN|ENOTFOUND|EAI_|EPIPE|ETIMEDOUT|UND_ERR)/.test(err.code)) return new PluginError('connectivity', `${provider} unreachable (${err.code})`, { provider, cause: e });
  // SDKs wrap what fetch threw (gaxios: Error → TypeError "fetch failed" → the socket error): look one level or two down.
  const socketCode = causeCode(e);
  if (socketCode) return new PluginError('connectivity', `${provider} unreachable (${socketCode})`, { provider, cause: e });
  if (err?.name === 'TypeError' && /fetch failed/.test(err.message ?? '')) return new PluginError('connectivity', `${provider} unreachable`, { provider, cause: e });
  return new PluginError('unknown', `${provider} call failed`, { provider, cause: e });
}
