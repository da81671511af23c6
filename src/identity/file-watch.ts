/**
 * Watch the directories holding some files and call back, debounced, when
 * anything in them changes.
 *
 * Directories rather than files: cert-manager, SPIRE and editors replace files
 * by rename, and Kubernetes swaps a `..data` symlink, which a watch on the old
 * inode would never see. The callback must therefore compare contents itself.
 * A slow poll backs fs.watch up on filesystems that drop events (NFS, some
 * container overlays).
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface PathWatch {
  close(): void;
}

export function watchPaths(paths: readonly string[], onChange: () => void, opts: { debounceMs?: number; pollMs?: number } = {}): PathWatch {
  const debounceMs = opts.debounceMs ?? 200;
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => { timer = undefined; onChange(); }, debounceMs);
    timer.unref();
  };
  for (const dir of new Set(paths.map((p) => dirname(resolve(p))))) {
    try {
      const w = watch(dir, { persistent: false }, fire);
      w.on('error', () => { /* the poll below still runs */ });
      watchers.push(w);
    } catch {
      // The directory may not exist yet; the poll picks the files up when it does.
    }
  }
  const poll = opts.pollMs === 0 ? undefined : setInterval(onChange, opts.pollMs ?? 60_000);
  poll?.unref();
  return {
    close() {
      for (const w of watchers) w.close();
      if (timer !== undefined) clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
    },
  };
}
