// Baselines for bench/gateway-overhead, each in its own process like the gateway: what any proxy
// process costs on this machine, measured in the same run.
//   tcp-relay   a raw TCP pipe (no HTTP at all): the floor of any user-space hop.
//   node-proxy  a do-nothing node:http server relaying to undici: the floor of an HTTP proxy on Node.
// Run: node bench/baseline-proxies.ts tcp-relay|node-proxy <upstream-url> <port>
// Both only ever connect to the loopback upstream they are given (through the loopback guard).
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { Agent, request } from 'undici';
import { assertOutboundAllowed, guardedConnector } from '../src/upstream/guard.ts';

const [kind, upstream, portText] = process.argv.slice(2);
if (!upstream || !portText || (kind !== 'tcp-relay' && kind !== 'node-proxy')) {
  console.error('usage: node bench/baseline-proxies.ts tcp-relay|node-proxy <upstream-url> <port>');
  process.exit(2);
}
const target = new URL(upstream);
assertOutboundAllowed(target.href, { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' });
const port = Number(portText);
// The bench stops us with SIGTERM: exit through process.exit so a --cpu-prof profile is written.
process.on('SIGTERM', () => process.exit(0));

if (kind === 'tcp-relay') {
  createTcpServer((client) => {
    client.setNoDelay(true);
    const server = connect(Number(target.port), target.hostname);
    server.setNoDelay(true);
    client.pipe(server);
    server.pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  }).listen(port, '127.0.0.1');
} else {
  const agent = new Agent({
    connect: guardedConnector({}, { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' }),
    connections: 4096,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      request(new URL(req.url ?? '/', target), {
        method: req.method as 'GET' | 'POST',
        dispatcher: agent,
        headers: {
          'content-type': req.headers['content-type'] ?? 'application/json',
          'x-request-id': String(req.headers['x-request-id'] ?? ''),
        },
        body: req.method === 'GET' ? undefined : Buffer.concat(parts),
      }).then(
        async (r) => {
          res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? '') });
          for await (const chunk of r.body) {
            if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
          }
          res.end();
        },
        (error: unknown) => {
          res.writeHead(502).end(String(error));
        },
      );
    });
  }).listen(port, '127.0.0.1');
}
