/**
 * A loopback SMTP relay (the `smtp-server` package, the same protocol engine nodemailer's own tests use):
 * accepts mail after EHLO/MAIL/RCPT/DATA, keeps each message's raw MIME, and can refuse recipients with a
 * permanent 550 (a bad mailbox) or defer them with 451, as a real relay does.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SmtpReceived { from: string; to: string[]; raw: string; at: number }

export interface FakeSmtp {
  port: number;
  host: string;
  received: SmtpReceived[];
  /** RCPT TO this address answers `550 5.1.1 mailbox unavailable`. */
  rejectAddress(address: string): void;
  /** The next `n` RCPT TO answer a temporary refusal: `451 4.3.0` (local error) by default, or `421`/`450`. */
  deferNext(n: number, code?: 421 | 450 | 451): void;
  waitFor(n: number, timeoutMs?: number): Promise<SmtpReceived[]>;
  close(): Promise<void>;
}

export async function startFakeSmtp(o: { user?: string; pass?: string } = {}): Promise<FakeSmtp> {
  const received: SmtpReceived[] = [];
  const rejected = new Set<string>();
  let defer = 0;
  let deferCode = 451;
  const server = new SMTPServer({
    secure: false,
    // Plain text on loopback only: the plugin's `allowPlaintext` exists for relays like this one.
    disabledCommands: o.user ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !o.user,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === o.user && auth.password === o.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (defer > 0) { defer--; return cb(Object.assign(new Error(`${deferCode === 451 ? '4.3.0' : '4.7.0'} try again later`), { responseCode: deferCode })); }
      if (rejected.has(address.address.toLowerCase())) return cb(Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), at: Date.now(),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port, host: '127.0.0.1', received,
    rejectAddress: (a) => { rejected.add(a.toLowerCase()); },
    deferNext: (n, code = 451) => { defer += n; deferCode = code; },
    async waitFor(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > until) throw new Error(`fake SMTP: expected ${n} messages, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
