// Streams live now, with their concurrent viewers; refreshed by live events and every 15 s.

import { useEffect, useState } from 'react';
import type { LiveNow, ViewerCount } from '../api/types';
import { useApi } from '../auth';
import { ErrorMessage, Loading, Page, useLoad } from '../components/common';
import { useFeedEvents } from '../feed';
import { formatDuration } from '../player/levels';
import { Link } from '../router';

export function LiveBrowser() {
  const api = useApi();
  const live = useLoad(() => api.get<{ live: LiveNow[] }>('/v1/live'), [api]);
  const [viewers, setViewers] = useState<Record<string, number | null>>({});
  const [now, setNow] = useState(() => Date.now());

  useFeedEvents((e) => {
    if (e.kind === 'event' && e.type === 'VID_LIVE') live.reload();
  });
  useEffect(() => {
    const t = setInterval(() => {
      live.reload();
      setNow(Date.now());
    }, 15000);
    return () => clearInterval(t);
  }, [live.reload]);

  useEffect(() => {
    for (const s of live.data?.live ?? []) {
      api
        .get<ViewerCount>(`/v1/live/${encodeURIComponent(s.stream_id)}/viewers`)
        .then((c) => setViewers((v) => ({ ...v, [s.stream_id]: c.viewers })))
        .catch(() => setViewers((v) => ({ ...v, [s.stream_id]: null })));
    }
  }, [api, live.data]);

  const streams = live.data?.live ?? [];
  return (
    <Page title="Live now">
      <ErrorMessage error={live.error} onRetry={live.reload} />
      {live.loading && !live.data && <Loading what="Loading live streams" />}
      {live.data && streams.length === 0 && (
        <p className="empty">
          Nothing is live right now. Create a stream in the <Link to="/studio">Studio</Link> and start OBS.
        </p>
      )}
      <ul className="grid" aria-label="Live streams">
        {streams.map((s) => {
          const since = s.started_at ? (now - Date.parse(s.started_at)) / 1000 : null;
          const count = viewers[s.stream_id];
          return (
            <li key={s.stream_id} className="card live-card" data-stream-id={s.stream_id}>
              <div className="card-body">
                <h2 className="card-title">
                  <span className="badge badge-live">Live</span> <Link to={`/stream/${s.stream_id}`}>{s.name}</Link>
                </h2>
                <p className="small muted">
                  {since !== null ? `Live for ${formatDuration(since)}` : 'Live'}
                  {s.protocol ? ` · ${s.protocol}` : ''}
                </p>
                <p className="small">
                  {count === undefined ? 'Counting viewers…' : count === null ? 'Viewers unavailable' : `${count} watching`}
                </p>
              </div>
            </li>
          );
        })}
      </ul>
    </Page>
  );
}
