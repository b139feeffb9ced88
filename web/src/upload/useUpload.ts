// React binding of one Uploader: its snapshots as state, and its controls.

import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { useApi, useApiKey } from '../auth';
import { RESUME_PREFIX, type SavedUpload } from './plan';
import { Uploader, type Snapshot } from './uploader';

export interface UploadControls {
  snap: Snapshot;
  pause(): void;
  resume(): void;
  retry(): void;
  cancel(): void;
}

export function useUpload(file: File): UploadControls {
  const api = useApi();
  const apiKey = useApiKey();
  const up = useMemo(() => new Uploader(file, { api, apiKey, storage: window.localStorage }), [file, api, apiKey]);
  const snap = useSyncExternalStore(
    (fn) => up.subscribe(fn),
    () => up.snapshot(),
  );
  useEffect(() => {
    void up.start();
    return () => up.pause();
  }, [up]);
  return {
    snap,
    pause: () => up.pause(),
    resume: () => void up.resume(),
    retry: () => void up.start(),
    cancel: () => void up.cancel(),
  };
}

/** Uploads remembered in this browser that have not completed (to resume after a reload). */
export function savedUploads(storage: Storage = window.localStorage): SavedUpload[] {
  const out: SavedUpload[] = [];
  for (let i = 0; i < storage.length; i++) {
    const k = storage.key(i);
    if (!k?.startsWith(RESUME_PREFIX)) continue;
    try {
      out.push(JSON.parse(storage.getItem(k) ?? '') as SavedUpload);
    } catch {
      // ignore a damaged entry
    }
  }
  return out.sort((a, b) => (a.saved_at < b.saved_at ? 1 : -1));
}
