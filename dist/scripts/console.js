/**
 * `npm run console -- --tenant demo [--from +14086137788]`: talk to a dealership's real agent by text.
 * The same configuration and platform as `npm start` (embedded Postgres when DATABASE_URL is unset), the real
 * LLM through OPENAI_API_KEY / OPENAI_BASE_URL, the real tools and database: bookings made here are real rows.
 * Tool calls are shown as they happen. `/quit` (or Ctrl-D) ends the conversation.
 */
import crypto from 'node:crypto';
import readline from 'node:readline';
import { loadConfig } from '../core/config.js';
import { buildPlatform } from '../core/app.js';
import { createLogger } from '../core/observability/logger.js';
import { seedDemo, DEMO_SLUG } from '../core/tenancy/seed.js';
import { toE164 } from '../core/tenancy/tenants.js';
import { newCallIdentity } from '../core/tools/identity.js';
import { Conversation } from '../core/voice/conversation.js';
import { buildSystemPrompt } from '../core/voice/prompt.js';
import { defaultGreeting } from '../core/voice/lines.js';
import { toolRunnerFor } from '../core/voice/voice-service.js';
const USAGE = 'usage: npm run console -- --tenant <slug or id> [--from <E.164 caller number>]\n';
const tty = process.stdout.isTTY;
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
function fail(msg, code = 64) {
    process.stderr.write(`${msg}\n`);
    process.exit(code);
}
function parseArgs(argv) {
    const flags = new Map();
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = argv[i + 1];
        if (!k.startsWith('--') || v === undefined || v.startsWith('--'))
            fail(`bad argument ${k}\n${USAGE}`);
        flags.set(k.slice(2), v);
        i++;
    }
    for (const k of flags.keys())
        if (!['tenant', 'from'].includes(k))
            fail(`unknown flag --${k}\n${USAGE}`);
    const tenant = flags.get('tenant');
    if (!tenant)
        fail(USAGE);
    let from = null;
    const raw = flags.get('from');
    if (raw) {
        try {
            from = toE164(raw);
        }
        catch {
            fail(`--from must be an E.164 number such as +14086137788\n${USAGE}`);
        }
    }
    return { tenant, from };
}
async function resolveTenant(p, cfg, ref) {
    const all = await p.tenants.list();
    let t = all.find((x) => x.slug === ref || x.id === ref);
    // Like `npm start` in development: the demo dealership is there to be talked to.
    if (!t && ref === DEMO_SLUG && !cfg.production)
        t = await p.tenants.get((await seedDemo(p)).tenantId);
    if (!t)
        fail(`no tenant "${ref}" (known: ${all.map((x) => x.slug).join(', ') || 'none'})`, 65);
    if (t.status !== 'active' || !t.config)
        fail(`tenant "${ref}" is ${t.status}${t.config ? '' : ' with an invalid configuration'}`, 65);
    return t;
}
async function main() {
    const args = parseArgs(process.argv.slice(2));
    let cfg;
    try {
        cfg = loadConfig();
    }
    catch (e) {
        fail(`servicelane console: ${e.message}`, 78);
    }
    if (!cfg.openai.apiKey) {
        fail('servicelane console: OPENAI_API_KEY is not set. The console talks to the real model; export OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible endpoint) and try again.', 78);
    }
    // Tool and plugin logs would drown the dialogue; warnings and errors still show.
    const logger = createLogger({ level: ['debug', 'trace'].includes(cfg.logLevel) ? cfg.logLevel : 'warn', production: cfg.production });
    const p = await buildPlatform(cfg, { logger });
    let closing = false;
    const close = async (code = 0) => {
        if (!closing) {
            closing = true;
            await p.close();
        }
        process.exit(code);
    };
    try {
        const tenant = await resolveTenant(p, cfg, args.tenant);
        const config = tenant.config;
        const llm = await p.registry.get(tenant.id, 'llm');
        const identity = newCallIdentity({ tenantId: tenant.id, callSid: `CAconsole${crypto.randomBytes(12).toString('hex')}`, callerPhone: args.from });
        const greeting = config.agent?.greeting ?? defaultGreeting(config.name);
        const conv = new Conversation({
            llm: p.voice.guards.llm({ llm, breaker: p.voice.guards.breaker(tenant.id, 'llm', config.plugins.llm?.plugin ?? 'llm') }),
            tools: toolRunnerFor(p.toolbox, config.serviceTypes),
            identity,
            systemPrompt: buildSystemPrompt(config, { now: new Date() }),
            greeting,
            model: config.agent?.model,
            logger,
        });
        process.stdout.write(dim(`${config.name} (${tenant.slug}) · caller ${args.from ?? 'withheld'} · /quit to end\n\n`));
        process.stdout.write(`${bold('agent>')} ${greeting}\n`);
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
        rl.setPrompt(`${bold('you>')} `);
        // Lines are queued and answered in order, so pasted or piped input works as well as typing.
        const queue = [];
        let busy = false;
        let inputClosed = false;
        let lastVerified = null;
        const turn = async (text) => {
            if (text === '/quit' || text === '/exit')
                return true;
            if (!text)
                return false;
            if (!tty)
                process.stdout.write(`you> ${text}\n`);
            let speaking = false;
            const say = (s) => {
                if (!speaking) {
                    process.stdout.write(`${bold('agent>')} `);
                    speaking = true;
                }
                process.stdout.write(s);
            };
            const breakLine = () => { if (speaking) {
                process.stdout.write('\n');
                speaking = false;
            } };
            try {
                const r = await conv.run(text, {
                    clause: say,
                    line: (_name, t) => { breakLine(); process.stdout.write(dim(`  (${t})\n`)); },
                    toolCall: (e) => { breakLine(); process.stdout.write(dim(`  → ${e.name} ${e.arguments}\n`)); },
                    toolResult: (e) => process.stdout.write(dim(`  ← ${e.name} ${e.ok ? 'ok' : e.code ?? 'failed'} (${Math.round(e.ms)} ms) ${e.content.slice(0, 300)}\n`)),
                });
                breakLine();
                const v = conv.identity.verifiedCustomerId;
                if (v && v !== lastVerified)
                    process.stdout.write(dim(`  [caller verified as customer ${v}]\n`));
                lastVerified = v;
                if (r.status === 'control') {
                    process.stdout.write(dim(r.control === 'transfer' ? `  [transfer to ${config.transferNumber ?? 'the service desk'}]\n` : '  [call ended]\n'));
                    return true;
                }
            }
            catch (e) {
                breakLine();
                process.stdout.write(dim(`  [the model failed: ${e.message}; on a phone call the caller would hear the fallback line]\n`));
            }
            return false;
        };
        const pump = async () => {
            if (busy)
                return;
            busy = true;
            for (let text = queue.shift(); text !== undefined; text = queue.shift()) {
                if (await turn(text))
                    await close(0);
            }
            busy = false;
            if (inputClosed)
                await close(0);
            else if (tty)
                rl.prompt();
        };
        rl.on('line', (line) => { queue.push(line.trim()); void pump(); });
        rl.on('close', () => { inputClosed = true; if (!busy)
            void close(0); });
        if (tty)
            rl.prompt();
    }
    catch (e) {
        process.stderr.write(`servicelane console: ${e.message}\n`);
        await close(1);
    }
}
void main();
//# sourceMappingURL=console.js.map