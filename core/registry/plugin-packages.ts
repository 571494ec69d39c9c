// How PLUGIN_PACKAGES entries become modules: where an entry is found, and the SDK name every package imports.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

/** The name a plugin package imports the SDK by (docs/plugins.md, "Writing a plugin package"). */
export const SDK_SPECIFIER = '@servicelane/sdk';

/**
 * The SDK module this process runs: `core/sdk/index.ts` under tsx (dev, tests), `dist/core/sdk/index.js` in the
 * image. A package must get this very URL, not a copy: one module instance means one `PluginError` class, one
 * `API_VERSION`, and `definePlugin` as core knows it.
 */
export function sdkModuleUrl(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`../sdk/index${ext}`, import.meta.url).href;
}

// Runs in Node's loader thread, so it is plain JavaScript handed over as a data: URL (no file to build or ship).
// It answers only the SDK's own name and passes every other specifier down the chain (tsx's hooks, Node's default).
const HOOKS = `
let sdkUrl;
export function initialize(data) { sdkUrl = data.sdkUrl; }
export async function resolve(specifier, context, next) {
  if (specifier === ${JSON.stringify(SDK_SPECIFIER)}) return { url: sdkUrl, shortCircuit: true };
  return next(specifier, context);
}`;

let provided = false;

/**
 * Makes `import … from '@servicelane/sdk'` resolve, in every module of this process, to the SDK core runs, the way
 * a host application provides a peer dependency. Plugin packages declare `@servicelane/sdk` as a peer and are
 * installed next to ServiceLane without an npm package of that name: the platform is the SDK's only provider, so
 * a package can never pin an SDK older or newer than the core that loads it (`apiVersion` says which it was
 * written for). Idempotent; the registry calls it before it imports PLUGIN_PACKAGES.
 */
export function provideSdkSpecifier(): void {
  if (provided) return;
  provided = true;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { sdkUrl: sdkModuleUrl() } });
}

/**
 * What to `import()` for one PLUGIN_PACKAGES entry. A package name resolves from ServiceLane's own install (the
 * operator ran `npm install <name>` in the app folder). An absolute path names a package folder (a private plugin
 * mounted into the container, or a checkout): its package.json `name` and `exports` pick the entry module, exactly
 * as they would once installed. An absolute path of a module file imports that file; a URL is imported as written.
 * Throws for a folder whose package.json can't name its entry; loadPackages reports that as PLG_ERR_SHAPE.
 */
export function packageEntry(entry: string): string {
  if (!path.isAbsolute(entry)) return entry;
  const manifestFile = path.join(entry, 'package.json');
  if (!fs.statSync(entry, { throwIfNoEntry: false })?.isDirectory() || !fs.existsSync(manifestFile)) return pathToFileURL(entry).href;
  const { name } = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { name?: unknown };
  if (typeof name !== 'string' || !name) throw new TypeError(`${manifestFile} has no "name"`);
  // A package may import itself by its own name when it declares `exports` (Node's self-reference): the same
  // lookup npm's layout gives its users, run from inside the folder.
  return pathToFileURL(createRequire(manifestFile).resolve(name)).href;
}
