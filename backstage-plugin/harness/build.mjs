// Bundles the harness page (harness/main.tsx) into harness/dist with esbuild.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'dist');
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: [join(here, 'main.tsx')],
  bundle: true,
  format: 'esm',
  outdir,
  jsx: 'automatic',
  minify: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
  loader: { '.svg': 'dataurl', '.png': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl' },
});
await copyFile(join(here, 'index.html'), join(outdir, 'index.html'));
// Backstage UI's stylesheet, which apps import in their entry point; the plugin's own sources may
// not import it (lint rule no-ui-css-imports-in-non-frontend), so the page links a copy.
const require = createRequire(import.meta.url);
await copyFile(require.resolve('@backstage/ui/css/styles.css'), join(outdir, 'backstage-ui.css'));
