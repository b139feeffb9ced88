// The tenant's live feed, one connection for the whole app: pages subscribe to decoded events,
// the dashboard reads the recent ones, cards read the latest transcode progress.
// It starts right after the projection sequence a first read was made at (X-Projection-Seq),
// so nothing between that read and the connection is missed; `since` is that sequence, so a
// page whose own read is older than it reads again (useCatchUp).

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useAuth } from './auth';
import type { Progress } from './api/types';
import { readBehindFeed } from './catalog';
import { connectFeed, type FeedStatus } from './sse/connect';
import { decodeFeed, type FeedEvent } from './sse/events';

const RECENT = 200;

interface FeedValue {
  status: FeedStatus;
  /** The feed delivers every event after this VID sequence (null: not known yet). */
  since: number | null;
  error: string | null;
  recent: FeedEvent[];
  progress: Record<string, Progress>;
  subscribe(fn: (e: FeedEvent) => void): () => void;
}

const FeedContext = createContext<FeedValue | null>(null);

export function FeedProvider({ children }: { children: ReactNode }) {
  const { api, apiKey } = useAuth();
  const [status, setStatus] = useState<FeedStatus>('connecting');
  const [since, setSince] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [recent, setRecent] = useState<FeedEvent[]>([]);
  const [progress, setProgress] = useState<Record<string, Progress>>({});
  const listeners = useRef(new Set<(e: FeedEvent) => void>());

  useEffect(() => {
    if (!api || !apiKey) return;
    let handle: { close(): void } | null = null;
    let closed = false;
    const onEvent = (e: FeedEvent) => {
      setRecent((r) => [e, ...r].slice(0, RECENT));
      if (e.kind === 'progress' && e.about === 'transcode') {
        setProgress((p) => ({ ...p, [e.aggregate]: e.progress }));
      }
      for (const l of listeners.current) l(e);
    };
    void api
      .request('/v1/stats')
      .then((a) => a.seq)
      .catch(() => null)
      .then((seq) => {
        if (closed) return;
        setSince(seq);
        handle = connectFeed({
          url: '/v1/events',
          key: apiKey,
          lastEventId: seq === null ? '' : String(seq),
          onMessage: (m) => {
            const e = decodeFeed(m);
            if (e) onEvent(e);
          },
          onStatus: (s, err) => {
            setStatus(s);
            setError(err ?? null);
          },
        });
      });
    return () => {
      closed = true;
      handle?.close();
    };
  }, [api, apiKey]);

  const subscribe = useCallback((fn: (e: FeedEvent) => void) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);
  const value = useMemo<FeedValue>(
    () => ({ status, since, error, recent, progress, subscribe }),
    [status, since, error, recent, progress, subscribe],
  );
  return <FeedContext.Provider value={value}>{children}</FeedContext.Provider>;
}

export function useFeed(): FeedValue {
  const v = useContext(FeedContext);
  if (!v) throw new Error('useFeed outside FeedProvider');
  return v;
}

/** Calls `fn` for every feed event while mounted (the latest `fn`, without resubscribing). */
export function useFeedEvents(fn: (e: FeedEvent) => void): void {
  const { subscribe } = useFeed();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e)), [subscribe]);
}

/**
 * Calls `reload` when a page's read, made at projection sequence `readSeq`, is older than the
 * point the feed starts from: an event in between would otherwise never reach the page.
 */
export function useCatchUp(readSeq: number | null, reload: () => void) {
  const { since } = useFeed();
  useEffect(() => {
    if (readBehindFeed(readSeq, since)) reload();
  }, [readSeq, since, reload]);
}
