// Small shared pieces: error and loading messages, status badge, progress bar, data loading.

import { useCallback, useEffect, useRef, useState, type DependencyList, type ReactNode } from 'react';
import { messageOf } from '../api/client';
import type { Progress, VideoStatus } from '../api/types';
import { STATUS_LABEL } from '../catalog';

export function ErrorMessage({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span>{typeof error === 'string' ? error : messageOf(error)}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function StatusBadge({ status }: { status: VideoStatus | string }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {STATUS_LABEL[status] ?? status}
    </span>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, value));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
      <div className="progress-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

export function TranscodeProgress({ progress }: { progress: Progress | null }) {
  if (!progress) return null;
  const eta = progress.eta_secs ? `, about ${Math.ceil(progress.eta_secs)} s left` : '';
  return (
    <div className="transcode-progress">
      <ProgressBar value={progress.percent} label="Transcode progress" />
      <span className="small" data-testid="progress-text">
        {Math.round(progress.percent)}%{progress.stage ? ` · ${progress.stage}` : ''}
        {eta}
      </span>
    </div>
  );
}

export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Framelog`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {actions}
      </header>
      {children}
    </section>
  );
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload(): void;
  setData(f: (d: T | null) => T | null): void;
}

/** Runs `load` when `deps` change; keeps the latest answer, error and a reload. */
export function useLoad<T>(load: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [data, setDataState] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    setLoading(true);
    loadRef
      .current()
      .then((d) => {
        if (!live) return;
        setDataState(d);
        setError(null);
      })
      .catch((e: unknown) => live && setError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((f: (d: T | null) => T | null) => setDataState(f), []);
  return { data, error, loading, reload, setData };
}
