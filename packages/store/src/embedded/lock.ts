/**
 * One process per data dir: a `LOCK` file holding the owner's pid, created with O_EXCL.
 *
 * Two writers on one log would interleave records and break the single revision counter, so a
 * second open fails with a message naming the owner. A lock left by a dead process (SIGKILL,
 * power loss) is taken over. Same-process double opens are caught by an in-process registry,
 * not by the pid: in a container the gateway is often pid 1 on every start, so "the lock holds
 * my own pid" usually means a stale lock from the previous run.
 *
 * Not handled: a dir shared between pid namespaces (two containers on one volume) cannot see
 * each other's pids; two processes taking over the same stale lock at the same instant.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const openInThisProcess = new Set<string>();

export interface DirLock {
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx');
    try {
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** `dir` must be an absolute, resolved path (the registry key). */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  if (openInThisProcess.has(dir)) {
    throw new Error(`embedded store data dir ${dir} is already open in this process`);
  }
  const path = join(dir, 'LOCK');
  openInThisProcess.add(dir);
  try {
    for (let attempt = 0; ; attempt++) {
      if (await tryCreate(path)) break;
      const text = await readFile(path, 'utf8').catch(() => '');
      const pid = Number.parseInt(text.trim(), 10);
      if (attempt >= 3) throw new Error(`cannot take over stale lock ${path}`);
      if (!Number.isSafeInteger(pid) || pid <= 0) {
        // An empty file may be a lock another process is writing right now: look again
        // shortly before calling it stale (a crash between create and write leaves it empty).
        if (attempt === 0) {
          await sleep(100);
          continue;
        }
      } else if (pid !== process.pid && isAlive(pid)) {
        throw new Error(
          `embedded store data dir ${dir} is locked by running process ${pid}; ` +
            'stop it or use another data_dir',
        );
      }
      await rm(path, { force: true });
    }
  } catch (err) {
    openInThisProcess.delete(dir);
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      openInThisProcess.delete(dir);
      const text = await readFile(path, 'utf8').catch(() => '');
      if (text.trim() === String(process.pid)) await rm(path, { force: true });
    },
  };
}
