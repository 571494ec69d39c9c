/**
 * The platform's egress policy for plugins: every request a plugin makes leaves through here.
 *
 * Why: a tenant admin types URLs into plugin credentials and settings (a CRM's `baseUrl`, a token endpoint).
 * Without a policy, the platform would call whatever they typed — loopback admin ports, the cloud metadata
 * service at 169.254.169.254, a database on the private network — with a stored key attached (SSRF).
 *
 * How: the check runs on the address the socket actually connects to, not on the URL's text. A hostname is
 * resolved by our own `lookup`, every address it returns is checked, and the socket connects to exactly that
 * answer, so a DNS record that changes between a check and the connect (rebinding) has nothing to slip
 * through. IP literals skip DNS in Node, so the connectors check them before connecting. Redirects open new
 * connections through the same connector, so a 302 to `http://127.0.0.1` is refused too.
 *
 * The operator may allow-list addresses, CIDR ranges or exact hostnames (`PLUGIN_EGRESS_ALLOW`, see the README);
 * tests allow-list loopback, where the fake vendors listen. In production only https is allowed.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { PluginError } from './errors.js';

/** The stable code of a refused destination (also in core's error catalogue). */
export const EGRESS_REFUSED_CODE = 'PLG_ERR_EGRESS_REFUSED';

/**
 * A destination the egress policy refused. It is a {@link PluginError} (category `forbidden`, never retried),
 * so a plugin's usual `toPluginError(e)` passes it through unchanged; core reports it as PLG_ERR_EGRESS_REFUSED.
 */
export class EgressRefusedError extends PluginError {
  readonly code = EGRESS_REFUSED_CODE;
  /** The refused host (and, after DNS, the address); never a path or query, which may carry secrets. */
  readonly destination: string;
  readonly reason: string;
  constructor(o: { destination: string; reason: string }) {
    super('forbidden', `egress to ${o.destination} refused: ${o.reason}`, { provider: 'egress', retryable: false });
    this.destination = o.destination;
    this.reason = o.reason;
  }
}

/** True for an {@link EgressRefusedError}, also when it is the `cause` of fetch's "fetch failed" TypeError. */
export function findEgressRefusal(e: unknown): EgressRefusedError | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if ((cur as { code?: unknown }).code === EGRESS_REFUSED_CODE && cur instanceof Error) return cur as EgressRefusedError;
  }
  return undefined;
}

/**
 * Address ranges no plugin may reach unless allow-listed: "this host", loopback, RFC 1918 private, CGNAT,
 * link-local (cloud metadata lives at 169.254.169.254), benchmarking, multicast and reserved; IPv6 unspecified,
 * loopback, unique-local, link-local, site-local, multicast and NAT64 (which maps onto IPv4 ranges).
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is unwrapped and checked as IPv4.
 */
const BLOCKED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const BLOCKED_V6: readonly [string, number][] = [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['::', 96],
];

const blocked = new net.BlockList();
for (const [a, p] of BLOCKED_V4) blocked.addSubnet(a, p, 'ipv4');
for (const [a, p] of BLOCKED_V6) blocked.addSubnet(a, p, 'ipv6');

/** An operator's allow-list, parsed from entries such as `127.0.0.1/32`, `::1`, `crm.internal.example`. */
export interface EgressAllowList {
  addresses: net.BlockList;
  hosts: ReadonlySet<string>;
}

/** Parses PLUGIN_EGRESS_ALLOW entries; `bad` lists the ones that are neither an IP, a CIDR nor a hostname. */
export function parseEgressAllow(entries: readonly string[]): { allow: EgressAllowList; bad: string[] } {
  const addresses = new net.BlockList();
  const hosts = new Set<string>();
  const bad: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const [addr, prefixText] = entry.split('/') as [string, string | undefined];
    const family = net.isIP(addr);
    if (family) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) { bad.push(raw); continue; }
      addresses.addSubnet(addr, prefix, type);
    } else if (prefixText === undefined && !/^[0-9.]+$/.test(entry) && /^[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$/.test(entry)) {
      // All-digit names are malformed IPs (999.1.1.1), never hostnames an operator meant.
      hosts.add(entry);
    } else {
      bad.push(raw);
    }
  }
  return { allow: { addresses, hosts }, bad };
}

/** What the policy enforces. */
export interface EgressPolicy {
  /** Refuse plain http and ws (production). */
  httpsOnly: boolean;
  /** Destinations the operator allows although they are in a blocked range. */
  allow: EgressAllowList;
}

function unwrapMapped(ip: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  if (net.isIP(ip) === 4) return { ip, type: 'ipv4' };
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return { ip: m[1]!, type: 'ipv4' };
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return { ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, type: 'ipv4' };
  }
  return { ip, type: 'ipv6' };
}

/** Why `ip` may not be reached under `policy`, or null when it may. */
export function addressRefusal(ip: string, policy: EgressPolicy): string | null {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (!net.isIP(bare)) return 'not an IP address';
  const { ip: a, type } = unwrapMapped(bare);
  if (policy.allow.addresses.check(a, type) || policy.allow.addresses.check(bare, net.isIP(bare) === 4 ? 'ipv4' : 'ipv6')) return null;
  if (blocked.check(a, type)) return `address ${a} is in a private, loopback, link-local or reserved range (allow it with PLUGIN_EGRESS_ALLOW)`;
  return null;
}

function hostAllowed(host: string, policy: EgressPolicy): boolean {
  return policy.allow.hosts.has(host.toLowerCase().replace(/\.$/, ''));
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` replacement for sockets: resolves, refuses the whole answer if any address is blocked (a
 * mixed answer is how rebinding attacks start), and hands the socket exactly the addresses it checked.
 */
export function checkedLookup(policy: EgressPolicy, onRefused?: (e: EgressRefusedError) => void): (hostname: string, options: dns.LookupOptions, cb: LookupCallback) => void {
  return (hostname, options, cb) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) { cb(err, options.all ? [] : ''); return; }
      if (!hostAllowed(hostname, policy)) {
        for (const a of addresses) {
          const why = addressRefusal(a.address, policy);
          if (why) {
            const refused = new EgressRefusedError({ destination: `${hostname} (${a.address})`, reason: why });
            onRefused?.(refused);
            cb(refused as unknown as NodeJS.ErrnoException, options.all ? [] : '');
            return;
          }
        }
      }
      if (options.all) cb(null, addresses);
      else if (addresses[0]) cb(null, addresses[0].address, addresses[0].family);
      else cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
    });
  };
}

/** The check a connector runs before any socket opens: protocol, then IP literals (DNS names go to checkedLookup). */
function preConnectRefusal(o: { protocol: string; hostname: string; policy: EgressPolicy }): EgressRefusedError | null {
  const host = o.hostname.replace(/^\[|\]$/g, '');
  if (o.policy.httpsOnly && o.protocol !== 'https:' && o.protocol !== 'wss:') {
    return new EgressRefusedError({ destination: host, reason: `${o.protocol.replace(':', '')} is not allowed in production; use https` });
  }
  if (net.isIP(host)) {
    const why = addressRefusal(host, o.policy);
    if (why) return new EgressRefusedError({ destination: host, reason: why });
  }
  return null;
}

/**
 * Checks a URL the way a connection would, for SDKs that open their own sockets and take no agent or fetch
 * (see each plugin for which). It resolves the host and checks every address; the SDK resolves again when it
 * connects, so this narrows but does not close a DNS-rebinding window. Resolves when the URL may be used.
 */
export async function checkEgressUrl(url: string | URL, policy: EgressPolicy): Promise<void> {
  const u = new URL(url);
  const refused = preConnectRefusal({ protocol: u.protocol, hostname: u.hostname, policy });
  if (refused) throw refused;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) || hostAllowed(host, policy)) return;
  const addresses = await dns.promises.lookup(host, { all: true });
  for (const a of addresses) {
    const why = addressRefusal(a.address, policy);
    if (why) throw new EgressRefusedError({ destination: `${host} (${a.address})`, reason: why });
  }
}

/** Node agents (for axios-, ws- and gaxios-based SDKs) that connect only where the policy allows. */
export function createEgressAgents(policy: EgressPolicy, onRefused?: (e: EgressRefusedError) => void): { http: http.Agent; https: https.Agent } {
  const lookup = checkedLookup(policy, onRefused) as unknown as net.LookupFunction;
  const refusedSocket = (err: EgressRefusedError): net.Socket => {
    onRefused?.(err);
    const s = new net.Socket();
    process.nextTick(() => s.destroy(err));
    return s;
  };
  // The base createConnection does the work (TLS session reuse included); the override adds the checks.
  class CheckedHttpAgent extends http.Agent {
    override createConnection(opts: http.RequestOptions, cb?: (err: Error | null, s: Duplex) => void): Duplex | null | undefined {
      const refused = preConnectRefusal({ protocol: 'http:', hostname: opts.host ?? 'localhost', policy });
      if (refused) return refusedSocket(refused);
      return super.createConnection({ ...opts, lookup } as http.RequestOptions, cb);
    }
  }
  class CheckedHttpsAgent extends https.Agent {
    override createConnection(opts: http.RequestOptions, cb?: (err: Error | null, s: Duplex) => void): Duplex | null | undefined {
      const refused = preConnectRefusal({ protocol: 'https:', hostname: opts.host ?? 'localhost', policy });
      if (refused) return refusedSocket(refused);
      return super.createConnection({ ...opts, lookup } as http.RequestOptions, cb);
    }
  }
  return { http: new CheckedHttpAgent({ keepAlive: true }), https: new CheckedHttpsAgent({ keepAlive: true }) };
}

/** The fetch a plugin's requests go through: undici with a connector that applies the policy per connection. */
export type EgressFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Policy-checked `fetch` plus Node agents. A refusal surfaces as the {@link EgressRefusedError} itself (not
 * fetch's generic "fetch failed"), and `onRefused` hears about it (core logs it and reports it on the plugin
 * test endpoint).
 */
export function createEgress(o: { policy: EgressPolicy; onRefused?: (e: EgressRefusedError) => void }): {
  fetch: EgressFetch;
  agents: { http: http.Agent; https: https.Agent };
  check: (url: string | URL) => Promise<void>;
  /** Closes pooled connections (the plugin instance is gone). */
  close: () => Promise<void>;
} {
  const { policy } = o;
  const lookup = checkedLookup(policy, o.onRefused);
  // buildConnector hands unknown options through to net.connect / tls.connect, `lookup` included.
  const base = buildConnector({ lookup } as unknown as buildConnector.BuildOptions);
  const dispatcher = new Agent({
    connect: (opts, cb) => {
      const refused = preConnectRefusal({ protocol: opts.protocol, hostname: opts.hostname, policy });
      if (refused) { o.onRefused?.(refused); cb(refused, null); return; }
      base(opts, cb);
    },
  });
  // onRefused already heard about the refusal where it happened (connector, lookup); here it only surfaces.
  const report = (e: unknown): never => {
    throw findEgressRefusal(e) ?? e;
  };
  const checkedFetch: EgressFetch = async (input, init) => {
    try {
      // undici's own fetch: the dispatcher must come from the same undici copy as the fetch using it.
      return await (undiciFetch as unknown as (i: unknown, x: unknown) => Promise<Response>)(input, { ...init, dispatcher });
    } catch (e) {
      return report(e);
    }
  };
  const agents = createEgressAgents(policy, o.onRefused);
  return {
    fetch: checkedFetch,
    agents,
    close: async () => {
      agents.http.destroy();
      agents.https.destroy();
      await dispatcher.close();
    },
    check: async (url) => {
      try { await checkEgressUrl(url, policy); } catch (e) {
        const refusal = findEgressRefusal(e);
        if (refusal) o.onRefused?.(refusal);
        throw e;
      }
    },
  };
}

/** The policy core's test contexts use: loopback allowed (the fake vendors listen there), plain http allowed. */
export function loopbackTestPolicy(): EgressPolicy {
  return { httpsOnly: false, allow: parseEgressAllow(['127.0.0.0/8', '::1']).allow };
}
