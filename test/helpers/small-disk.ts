import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A real, small filesystem (a tmpfs) that a test can fill to the brim: what a full data dir
 * looks like to SQLite (SQLITE_FULL) and to node:fs (ENOSPC). Mounting needs root on Linux;
 * elsewhere `smallDiskUnavailable` says why, and the tests that need one are skipped.
 */
export interface SmallDisk {
  /** The mount point: put FERRY_DATA_DIR here. */
  readonly dir: string;
  /**
   * Writes a filler file until the disk refuses another byte (ENOSPC). tmpfs hands out whole
   * pages, so afterwards any write that needs a new page fails, however small.
   */
  fill(): void;
  /**
   * Creates empty files until no inode is left (ENOSPC too): for a disk mounted with `inodes`,
   * where then no file or directory can be created, however small.
   */
  fillInodes(): void;
  /** Gives back `bytes` of the filler (whole pages), or all of it, and every inode taken. */
  free(bytes?: number): void;
  /** Unmounts and removes the mount point. Close every file on the disk first. */
  remove(): void;
}

const FILLER = ".filler";

/** Why no small disk can be mounted here, or null when it can. Probed once per test file. */
export const smallDiskUnavailable: string | null = probe();

/** Mounts a tmpfs of `sizeBytes` (and at most `inodes` files and directories) in a temp dir. */
export function mountSmallDisk(sizeBytes: number, options: { inodes?: number } = {}): SmallDisk {
  const dir = mkdtempSync(path.join(tmpdir(), "ferry-small-disk-"));
  try {
    mount(dir, sizeBytes, options.inodes);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const filler = path.join(dir, FILLER);
  const inodeFillers = path.join(dir, `${FILLER}-inodes`);
  return {
    dir,
    fill() {
      const fd = openSync(filler, "a");
      const chunk = Buffer.alloc(64 * 1024, 0x2e);
      try {
        for (;;) {
          writeSync(fd, chunk);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") {
          throw err;
        }
      } finally {
        closeSync(fd);
      }
    },
    fillInodes() {
      try {
        mkdirSync(inodeFillers);
        for (let i = 0; ; i++) {
          closeSync(openSync(path.join(inodeFillers, String(i)), "w"));
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") {
          throw err;
        }
      }
    },
    free(bytes) {
      if (bytes === undefined) {
        rmSync(filler, { force: true });
        rmSync(inodeFillers, { recursive: true, force: true });
      } else {
        truncateSync(filler, Math.max(0, statSync(filler).size - bytes));
      }
    },
    remove() {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
      } catch {
        // Something still holds a file open (a test that failed midway): detach it anyway, the
        // kernel frees the tmpfs when the last file closes.
        execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function mount(dir: string, sizeBytes: number, inodes: number | undefined): void {
  const options =
    inodes === undefined ? `size=${sizeBytes}` : `size=${sizeBytes},nr_inodes=${inodes}`;
  execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "pipe" });
}

function probe(): string | null {
  if (process.platform !== "linux") {
    return `a tmpfs needs Linux (this is ${process.platform})`;
  }
  if (process.getuid?.() !== 0) {
    return "mounting a tmpfs needs root";
  }
  try {
    mountSmallDisk(64 * 1024).remove();
    return null;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `mount -t tmpfs failed: ${stderr || (err as Error).message}`;
  }
}
