import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../paths.js';

/** One built file of the console: served from memory with its content type. */
export interface ConsoleAsset { body: Buffer; type: string }
export interface ConsoleBundle { index: Buffer; assets: Map<string, ConsoleAsset> }

const WEB_DIR = packagePath('web');
/** `npm run build` writes the bundle here; `npm start` builds on demand when it is absent. */
export const BUILT_DIR = packagePath('dist', 'web');

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };
const hashed = (name: string, body: Buffer) => {
  const ext = path.extname(name);
  return `${path.basename(name, ext)}-${crypto.createHash('sha256').update(body).digest('hex').slice(0, 12)}${ext}`;
};

/**
 * Bundles web/ with esbuild (Preact + htm, no JSX step) into content-hashed files, so they can be cached
 * forever, plus an index.html that names them (served no-cache). The AudioWorklet is its own file: a worklet
 * module is loaded by URL, never bundled into the page.
 */
export async function buildConsole(): Promise<ConsoleBundle> {
  // esbuild is a build tool (devDependency): loaded only when a bundle is built, never by a prebuilt install.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: { app: path.join(WEB_DIR, 'app.ts'), 'talk-worklet': path.join(WEB_DIR, 'talk-worklet.ts') },
    bundle: true, format: 'esm', target: 'es2022', minify: true, write: false, outdir: 'out', logLevel: 'silent', legalComments: 'none',
  });
  const assets = new Map<string, ConsoleAsset>();
  const names: Record<string, string> = {};
  for (const f of out.outputFiles) {
    const body = Buffer.from(f.contents);
    const name = hashed(path.basename(f.path), body);
    names[path.basename(f.path)] = name;
    assets.set(name, { body, type: TYPES[path.extname(name)] ?? 'application/octet-stream' });
  }
  const css = fs.readFileSync(path.join(WEB_DIR, 'style.css'));
  const cssName = hashed('style.css', css);
  assets.set(cssName, { body: css, type: TYPES['.css']! });
  const index = Buffer.from(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ServiceLane console</title><link rel="stylesheet" href="/console/assets/${cssName}"></head>
<body><div id="app"></div>
<script type="module" src="/console/assets/${names['app.js']}" data-worklet="/console/assets/${names['talk-worklet.js']}" id="app-script"></script>
</body></html>
`);
  return { index, assets };
}

/** Writes a bundle to dist/web (npm run build). */
export function writeConsole(b: ConsoleBundle, dir = BUILT_DIR): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), b.index);
  for (const [name, a] of b.assets) fs.writeFileSync(path.join(dir, 'assets', name), a.body);
}

/** The prebuilt bundle from dist/web, or null when there is none (then the server builds on demand). */
export function readBuiltConsole(dir = BUILT_DIR): ConsoleBundle | null {
  if (!fs.existsSync(path.join(dir, 'index.html'))) return null;
  const assets = new Map<string, ConsoleAsset>();
  for (const name of fs.readdirSync(path.join(dir, 'assets'))) {
    assets.set(name, { body: fs.readFileSync(path.join(dir, 'assets', name)), type: TYPES[path.extname(name)] ?? 'application/octet-stream' });
  }
  return { index: fs.readFileSync(path.join(dir, 'index.html')), assets };
}
