// Serves the built harness page and forwards /api/* to the Backstage backend, so the page and
// the backend share one origin as in a Backstage deployment.
//   node harness/serve.mjs PORT BACKSTAGE_URL
import { createReadStream, existsSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [port, backstage] = process.argv.slice(2);
if (!port || !backstage) throw new Error('usage: serve.mjs PORT BACKSTAGE_URL');
const dist = fileURLToPath(new URL('./dist/', import.meta.url));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const upstream = new URL(backstage);

createServer((req, res) => {
  if (req.url.startsWith('/api/')) {
    const forward = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
      answer => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', error => res.writeHead(502).end(String(error)));
    req.pipe(forward);
    return;
  }
  const path = new URL(req.url, 'http://harness').pathname;
  const file = join(dist, path);
  const asset = path !== '/' && file.startsWith(dist) && existsSync(file) ? file : join(dist, 'index.html');
  res.writeHead(200, { 'content-type': types[extname(asset)] ?? 'application/octet-stream' });
  createReadStream(asset).pipe(res);
}).listen(Number(port), '127.0.0.1');
