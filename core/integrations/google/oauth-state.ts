import crypto from 'node:crypto';
import type { Knex } from 'knex';

/**
 * The OAuth `state`: `<id>.<hmac>`. The HMAC (key derived from CREDENTIALS_KEY) lets a forged or tampered
 * state be refused before any database lookup; the row (migrations/platform/040) makes it single-use, bound to
 * the tenant and the admin who clicked "connect", and expiring after STATE_TTL_MS. The PKCE verifier stays in
 * the row: it never travels through the browser, so a code intercepted on the redirect is useless alone.
 */
export const STATE_TTL_MS = 10 * 60_000;
const TABLE = 'platform.google_oauth_states';

export interface PendingConsent { tenantId: string; actor: string; codeVerifier: string }

export class OAuthStates {
  private readonly key: Buffer;

  constructor(private readonly o: { db: Knex; credentialsKey: Buffer; ttlMs?: number; now?: () => number }) {
    // A key of its own (HKDF) so a state signature can never double as anything else signed with CREDENTIALS_KEY.
    this.key = Buffer.from(crypto.hkdfSync('sha256', o.credentialsKey, Buffer.alloc(0), 'servicelane google oauth state', 32));
  }

  private sign(id: string): string {
    return crypto.createHmac('sha256', this.key).update(id).digest('base64url');
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** Records a pending consent and returns the `state` to send to Google. */
  async create(p: PendingConsent): Promise<string> {
    const id = crypto.randomBytes(18).toString('base64url');
    await this.o.db(TABLE).insert({
      id, tenant_id: p.tenantId, actor: p.actor, code_verifier: p.codeVerifier,
      expires_at: new Date(this.now() + (this.o.ttlMs ?? STATE_TTL_MS)),
    });
    // Expired rows are useless; clearing a few on each write keeps the table at the size of live consents.
    await this.o.db(TABLE).where('expires_at', '<', new Date(this.now() - 3_600_000)).del();
    return `${id}.${this.sign(id)}`;
  }

  /**
   * Consumes a state atomically: the first caller gets the pending consent, every later one (a replay) and any
   * forged, tampered or expired state gets null. `expect` binds it further: a state issued for another tenant
   * (or another admin) is burnt and refused, so a leaked state cannot be completed from elsewhere.
   */
  async consume(state: unknown, expect: { tenantId?: string; actor?: string } = {}): Promise<PendingConsent | null> {
    if (typeof state !== 'string' || state.length > 200) return null;
    const dot = state.indexOf('.');
    if (dot <= 0) return null;
    const id = state.slice(0, dot);
    const mac = Buffer.from(state.slice(dot + 1));
    const want = Buffer.from(this.sign(id));
    if (mac.length !== want.length || !crypto.timingSafeEqual(mac, want)) return null;
    const [row] = await this.o.db(TABLE).where({ id }).whereNull('consumed_at').where('expires_at', '>', new Date(this.now()))
      .update({ consumed_at: new Date(this.now()) }).returning(['tenant_id', 'actor', 'code_verifier']) as { tenant_id: string; actor: string; code_verifier: string }[];
    if (!row) return null;
    if (expect.tenantId !== undefined && row.tenant_id !== expect.tenantId) return null;
    if (expect.actor !== undefined && row.actor !== expect.actor) return null;
    return { tenantId: row.tenant_id, actor: row.actor, codeVerifier: row.code_verifier };
  }
}
