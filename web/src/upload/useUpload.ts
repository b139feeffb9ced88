// React binding of one Uploader: its snapshots as state, and its controls.

import { useEffect, useMemo, useSyncExternalStore } from 'react';
import type { Api } from '../api/client';
import { useApi } from '../auth';
import { RESUME_PREFIX, type DirectUpload, type SavedUpload } from './plan';
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
  const up = useMemo(
    () =>
      new Uploader(file, {
        createDirect: (f) => createDirect(api, f),
        cancelDirect: (id) => api.del(`/v1/uploads/direct/${id}`),
        storage: window.localStorage,
      }),
    [file, api],
  );
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
    resume: () => up.resume(),
    retry: () => void up.start(),
    cancel: () => void up.cancel(),
  };
}

/** A direct upload for `file`: the only thing handed to the uploader is its URL. */
export function createDirect(api: Api, file: File): Promise<DirectUpload> {
  return api.post<DirectUpload>('/v1/uploads/direct', {
    title: file.name.replace(/\.[^.]+$/, '') || file.name,
    cors_origin: window.location.origin,
    max_size: file.size,
  });
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
