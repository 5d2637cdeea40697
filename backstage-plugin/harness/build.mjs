// Bundles the harness page (harness/main.tsx) into harness/dist with esbuild.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
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
