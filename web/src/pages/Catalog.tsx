// The catalog: video cards kept current by the live feed (status and progress, no reload).

import { useRef, useState } from 'react';
import { ApiError, afterSeq } from '../api/client';
import type { Video, VideoPage, VideoStatus } from '../api/types';
import { useApi } from '../auth';
import { Freshness, progressOf, removeVideo, titleOf, upsertVideo } from '../catalog';
import { ErrorMessage, Loading, Page, StatusBadge, TranscodeProgress, useLoad } from '../components/common';
import { useCatchUp, useFeed, useFeedEvents } from '../feed';
import { formatDuration } from '../player/levels';
import { Link } from '../router';
import { videoOf } from '../sse/events';

const STATUSES: VideoStatus[] = ['uploading', 'processing', 'playable', 'ready', 'failed'];

export function Catalog() {
  const api = useApi();
  const { progress } = useFeed();
  const [status, setStatus] = useState<VideoStatus | ''>('');
  const [more, setMore] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null });
  const query = (cursor?: string) =>
    `/v1/videos?limit=24${status ? `&status=${status}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const fresh = useRef(new Freshness());
  const page = useLoad(async () => {
    const { data, seq } = await api.request<VideoPage>(query());
    // Reads of single videos older than this list are stale from now on.
    for (const v of data.videos) fresh.current.accept(v.id, seq);
    return { ...data, seq };
  }, [api, status]);
  useCatchUp(page.data?.seq ?? null, page.reload);

  useFeedEvents((e) => {
    const id = videoOf(e);
    if (!id || e.kind !== 'event') return;
    api
      .request<Video>(afterSeq(`/v1/videos/${encodeURIComponent(id)}`, e.seq))
      .then(({ data: v, seq }) => {
        if (!fresh.current.accept(id, seq)) return;
        page.setData((p) => {
          if (!p) return p;
          const fits = !status || v.status === status;
          return { ...p, videos: fits ? upsertVideo(p.videos, v) : removeVideo(p.videos, v.id) };
        });
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) {
          page.setData((p) => (p ? { ...p, videos: removeVideo(p.videos, id) } : p));
        }
      });
  });

  const loadMore = async () => {
    const cursor = page.data?.next_cursor;
    if (!cursor) return;
    setMore({ busy: true, error: null });
    try {
      const next = await api.get<VideoPage>(query(cursor));
      page.setData((p) =>
        p ? { ...p, videos: [...p.videos, ...next.videos], next_cursor: next.next_cursor } : { ...next, seq: null },
      );
      setMore({ busy: false, error: null });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  const filter = (
    <div className="row">
      <label htmlFor="status-filter">Status</label>
      <select id="status-filter" value={status} onChange={(e) => setStatus(e.target.value as VideoStatus | '')}>
        <option value="">All</option>
        {STATUSES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
    </div>
  );

  return (
    <Page title="Catalog" actions={filter}>
      <ErrorMessage error={page.error} onRetry={page.reload} />
      {page.loading && !page.data && <Loading what="Loading videos" />}
      {page.data && page.data.videos.length === 0 && (
        <p className="empty">
          No videos yet. <Link to="/upload">Upload one</Link>.
        </p>
      )}
      <ul className="grid" aria-label="Videos">
        {page.data?.videos.map((v) => <VideoCard key={v.id} video={v} progress={progressOf(v, progress)} />)}
      </ul>
      <ErrorMessage error={more.error} />
      {page.data?.next_cursor && (
        <button type="button" onClick={loadMore} disabled={more.busy}>
          {more.busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </Page>
  );
}

function VideoCard({ video: v, progress }: { video: Video; progress: ReturnType<typeof progressOf> }) {
  const title = titleOf(v);
  return (
    <li className="card video-card" data-video-id={v.id} data-status={v.status}>
      <Link to={`/watch/${v.id}`} className="poster-link" aria-label={`Watch ${title}`}>
        {v.poster_url ? (
          <img className="poster" src={v.poster_url} alt="" loading="lazy" />
        ) : (
          <div className="poster placeholder" aria-hidden="true">
            {v.status === 'failed' ? '!' : '▶'}
          </div>
        )}
        <span className="duration">{formatDuration(v.duration_secs)}</span>
      </Link>
      <div className="card-body">
        <h2 className="card-title">
          <Link to={`/watch/${v.id}`}>{title}</Link>
        </h2>
        <div className="row between">
          <StatusBadge status={v.status} />
          <span className="small muted">
            {v.views} {v.views === 1 ? 'view' : 'views'}
          </span>
        </div>
        <TranscodeProgress progress={progress} />
        {v.status === 'failed' && v.error && <p className="small error-text">{v.error}</p>}
      </div>
    </li>
  );
}
