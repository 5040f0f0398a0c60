// Child processes: the built app or a node script, started, waited for and stopped.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sleep } from './wait';

export const ROOT = join(__dirname, '..', '..');
/** The built app (`npm run build`), as a pod runs it. */
export const APP_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  /** The end of what it printed (stdout and stderr), for assertions and error messages. */
  output(): string;
  /** Its inspector's WebSocket URL, once it printed one (started with --inspect). */
  inspector(): string | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** Node flags before the script (e.g. --inspect). */
  nodeArgs?: string[];
  /** Arguments after the script. */
  args?: string[];
  /** Load the script through tsx: for our TypeScript, never for the built app. */
  tsx?: boolean;
  /** An IPC channel (child.send / child.on('message')). */
  ipc?: boolean;
  /** Pass stderr through to ours instead of capturing it. */
  inheritStderr?: boolean;
  /** Raise `ulimit -n` to this before node starts (see fdLimitFor). */
  fdLimit?: number;
  /** How much of the output to keep, from the end. */
  outputTail?: number;
}

/** Every child started here and still running: what stopAll stops. */
export const running = new Set<NodeProcess>();

/** Runs `node [--import tsx] <file>` from the project root, with `env` over ours. */
export function spawnNode(file: string, env: Record<string, string>, opts: SpawnOptions = {}): NodeProcess {
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(opts.tsx ? ['--import', 'tsx'] : []), file, ...(opts.args ?? [])];
  const stdio = ['ignore', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe', ...(opts.ipc ? ['ipc'] : [])] as (
    'ignore' | 'pipe' | 'inherit' | 'ipc'
  )[];
  const options = { cwd: ROOT, env: { ...process.env, ...env }, stdio };
  // bash raises the limit, then execs node: same pid, so signals and /proc readings reach node itself.
  const child =
    opts.fdLimit === undefined
      ? spawn(process.execPath, nodeArgs, options)
      : spawn('bash', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgs], options);
  const tail = opts.outputTail ?? 64 * 1024;
  let output = '';
  let inspector: string | undefined;
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-tail);
    inspector ??= /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  };
  child.stdout!.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: NodeProcess = { child, pid: child.pid!, output: () => output, inspector: () => inspector, exited };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Runs the built app with `env` over ours (LOG_LEVEL, PORT, ...). */
export function spawnApp(env: Record<string, string>, opts: SpawnOptions = {}): NodeProcess {
  return spawnNode(APP_MAIN, env, opts);
}

/** Polls `url` until it answers 2xx; fails early if `proc` exits meanwhile. */
export async function waitReady(url: string, proc?: NodeProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const printed = () => (proc ? `:\n${proc.output().slice(-4000)}` : '');
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${url}: the process exited during boot${printed()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs} ms${printed()}`);
}

/** Resolves with the first match of `pattern` in what the process prints; fails if it exits or times out first. */
export async function waitForOutput(proc: NodeProcess, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(proc.output());
    if (match) return match;
    const printed = () => `:\n${proc.output().slice(-2000)}`;
    if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode} before printing ${pattern}${printed()}`);
    if (Date.now() > deadline) throw new Error(`did not print ${pattern} within ${timeoutMs} ms${printed()}`);
    await sleep(50);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 8000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stopChild(p.child)));
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/**
 * `ulimit -n` is per process and inherited: the limit a child needs to hold `openFiles` sockets
 * when ours is lower (spawn it with `fdLimit`), or undefined when ours is enough.
 */
export function fdLimitFor(openFiles: number): number | undefined {
  const soft = Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
  const hardText = execFileSync('bash', ['-c', 'ulimit -Hn']).toString().trim();
  const hard = hardText === 'unlimited' ? Infinity : Number(hardText);
  return soft >= openFiles ? undefined : Math.min(65535, hard);
}
