/** Real server processes (`baton start`), for the tests that need several processes on one store. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './temp.ts';

export const CLI = resolve(import.meta.dirname, '../src/cli.ts');

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** stdout lines and stderr chunks, in arrival order */
  output: string[];
  /** stdout alone, one entry a line */
  stdout: string[];
  /** stderr alone, as it came */
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes the config (JSON is YAML) to a temp file; returns its path. */
export function writeConfig(config: Record<string, unknown>): string {
  const file = join(tempDir('config'), 'baton.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** `baton start` with the config; resolves once it listens. Past `timeoutMs` it is killed and the call fails. */
export async function startServerProcess(configFile: string, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => stdout.push(line));
  child.stderr.on('data', (d: Buffer) => {
    output.push(d.toString());
    stderr.push(d.toString());
  });
  const url = await new Promise<string>((ok, fail) => {
    // a server that did not start in time is stopped, never left running (it would hold its port)
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(Object.assign(new Error(`server did not start:\n${output.join('\n')}`), { pid: child.pid }));
    }, timeoutMs);
    lines.on('line', (line) => {
      output.push(line);
      if (line.includes('"msg":"server.listening"')) {
        clearTimeout(timer);
        ok((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${code}:\n${output.join('\n')}`));
    });
  });
  return {
    url,
    child,
    output,
    stdout,
    stderr,
    stop: (signal = 'SIGTERM') =>
      new Promise((done) => {
        if (child.exitCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill(signal);
      }),
  };
}
