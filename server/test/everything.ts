/**
 * The third-party MCP server of the gateway's tests and bench: `@modelcontextprotocol/server-everything`
 * from the npm registry, in its Streamable HTTP mode (`/mcp` on PORT), as a child process. It listens on
 * every interface: the tests and the bench only ever call it on 127.0.0.1 (this machine's network is closed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** Starts it on `port`; resolves once it answers (a GET without a session: 400). */
export async function startEverything(port: number): Promise<ChildProcess> {
  const entry = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
  const child = spawn(process.execPath, [entry, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  for (let i = 0; i < 400; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/mcp`).then(
      () => true,
      () => false,
    );
    if (up) return child;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  child.kill();
  throw new Error('server-everything did not start');
}
