/**
 * The floor of any gateway on this machine (bench/gateway.ts): a bare Node hop with the gateway's parts and
 * none of its checks. node:http in, undici out (keep-alive), the request body read whole, the MCP headers
 * and a key passed on, the answer streamed back. No token, no scope, no session binding, no limits, no audit:
 * never a thing to deploy. Run as its own process: PORT, UPSTREAM.
 */
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const upstream = process.env.UPSTREAM!;
const dispatcher = new Agent();
const TO_UPSTREAM = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version'];
const FROM_UPSTREAM = ['content-type', 'mcp-session-id'];

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const headers: Record<string, string> = { 'x-api-key': 'bench-shared-key' };
    for (const name of TO_UPSTREAM) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
    request(upstream, { method: 'POST', headers, body: Buffer.concat(chunks), dispatcher }).then(
      (answer) => {
        const out: Record<string, string> = {};
        for (const name of FROM_UPSTREAM) {
          const value = answer.headers[name];
          if (typeof value === 'string') out[name] = value;
        }
        res.writeHead(answer.statusCode, out);
        answer.body.on('data', (chunk: Buffer) => res.write(chunk));
        answer.body.on('end', () => res.end());
      },
      () => res.writeHead(502).end(),
    );
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
