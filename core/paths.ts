import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the package root is. Files read at run time (SQL migrations, the tenant config schema, the demo
 * config) live beside `package.json`, not beside the code: the same module runs from the source tree under
 * tsx (`core/paths.ts`) and compiled (`dist/core/paths.js`), one folder deeper, so a fixed `../..` would be
 * right in one of them only. We walk up from this file to the first `package.json` named `servicelane`.
 */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'servicelane') return dir;
    } catch { /* no package.json here (or not JSON): keep walking up */ }
    // Reaching `/` means the install is broken (package.json not shipped); this runs at import, before any
    // request, so the plain Error stops the process with the path in its message.
    if (path.dirname(dir) === dir) throw new Error(`servicelane: no package.json named "servicelane" above ${start}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** An absolute path to a file or folder shipped with the package, e.g. `packagePath('migrations', 'tenant')`. */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
