// A load generator: a load-client.ts child holding client sockets, driven over IPC one command at a time.
import { join } from 'node:path';
import { NodeProcess, spawnNode, stopChild } from '../../tools/scratch';
import { Command, Reply } from './protocol';

export class Generator {
  readonly pid: number;
  private readonly proc: NodeProcess;
  private waiting?: {
    type: Reply['type'];
    resolve: (r: Reply) => void;
    reject: (e: Error) => void;
  };

  /** `fdLimit`: the `ulimit -n` its sockets need, if ours is lower. */
  constructor(fdLimit: number | undefined) {
    this.proc = spawnNode(join(__dirname, 'load-client.ts'), {}, { ipc: true, tsx: true, fdLimit });
    this.pid = this.proc.pid;
    this.proc.child.on('message', (reply: Reply) => {
      if (this.waiting?.type === reply.type) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(reply);
      }
    });
    this.proc.child.once('exit', (code) => this.waiting?.reject(new Error(`load generator exited (${code}):\n${this.proc.output()}`)));
  }

  /** Sends one command and waits for its reply (one at a time per generator). */
  ask<T extends Reply['type']>(cmd: Command, type: T, timeoutMs = 120_000): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = {
        type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<Reply, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.proc.child.send(cmd);
    });
  }

  stop(): Promise<void> {
    return stopChild(this.proc.child, 3000);
  }
}
