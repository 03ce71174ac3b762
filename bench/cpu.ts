/**
 * What the benchmarks read off the machine: the CPU time processes used (Linux /proc), and the Node options
 * every measured server process is started with (BENCH_NODE_ARGS, e.g. `--cpu-prof`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** utime + stime (µs) of the processes whose pid is given, or whose command is one of `commands` */
export function cpuMicros(pids: number[], commands: string[] = []): number {
  const tick = 1e6 / 100; // USER_HZ
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!pids.includes(pid) && !commands.includes(comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // the process ended
    }
  }
  return total;
}

/** BENCH_NODE_ARGS, split: given to every measured server process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`) */
export function nodeArgs(): string[] {
  return process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
}
