import type { AppConfig } from '../config.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';

/** The Twilio account a webhook must be signed by, and whose AccountSid it must carry. */
export interface SigningAccount {
  accountSid: string | undefined;
  authToken: string | undefined;
  /** `tenant`: the dealership's own subaccount (its telephony slot credential); `platform`: TWILIO_*. */
  source: 'tenant' | 'platform';
}

const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;

/**
 * Picks the signing key for a webhook from the tenant the server resolved (dialled number or CallSid route),
 * never from the body's AccountSid: a dealership on its own Twilio subaccount (the telephony slot's stored
 * credential `{accountSid, authToken}`, the same one the Twilio plugin places calls with) has its numbers'
 * webhooks signed with that subaccount's token; everyone else with the platform's. Because the signature
 * covers the field that chose the tenant (`To`, `CallSid`), a forger cannot steer the choice without the
 * token it leads to.
 */
export async function signingAccountFor(o: { cfg: AppConfig; tenants: TenantService; tenant: Tenant | null }): Promise<SigningAccount> {
  const platform: SigningAccount = { accountSid: o.cfg.twilio.accountSid, authToken: o.cfg.twilio.authToken, source: 'platform' };
  const ref = o.tenant?.config?.plugins.telephony?.credentialsRef;
  if (!o.tenant || !ref) return platform;
  const cred = await o.tenants.getCredential(o.tenant.id, ref) as { accountSid?: unknown; authToken?: unknown } | undefined;
  // The plugin's credentials schema requires both or neither; without both it also uses the platform account.
  if (!cred || typeof cred.accountSid !== 'string' || !ACCOUNT_SID.test(cred.accountSid) || typeof cred.authToken !== 'string' || !cred.authToken) return platform;
  return { accountSid: cred.accountSid, authToken: cred.authToken, source: 'tenant' };
}
