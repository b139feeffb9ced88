// Watch one video: the player once it is playable, its transcode progress until then.

import { useCallback, useRef, useState } from 'react';
import { afterSeq } from '../api/client';
import type { Video } from '../api/types';
import { useApi } from '../auth';
import { Freshness, progressOf, titleOf } from '../catalog';
import { Player } from '../components/Player';
import { ErrorMessage, Loading, Page, StatusBadge, TranscodeProgress, useLoad } from '../components/common';
import { useCatchUp, useFeed, useFeedEvents } from '../feed';
import { formatBitrate, formatDuration, tokenOf } from '../player/levels';
import { videoOf } from '../sse/events';
import { formatBytes } from '../upload/plan';

export function Watch({ id }: { id: string }) {
  const api = useApi();
  const { progress } = useFeed();
  const fresh = useRef(new Freshness());
  const [readSeq, setReadSeq] = useState<number | null>(null);
  const v = useLoad(async () => {
    const { data, seq } = await api.request<Video>(`/v1/videos/${encodeURIComponent(id)}`);
    fresh.current.accept(id, seq);
    setReadSeq(seq);
    return data;
  }, [api, id]);
  useCatchUp(readSeq, v.reload);

  useFeedEvents((e) => {
    if (e.kind !== 'event' || videoOf(e) !== id) return;
    api
      .request<Video>(afterSeq(`/v1/videos/${encodeURIComponent(id)}`, e.seq))
      .then(({ data, seq }) => fresh.current.accept(id, seq) && v.setData(() => data))
      .catch(() => undefined);
  });

  const video = v.data;
  if (!video) {
    return (
      <Page title="Watch">
        <ErrorMessage error={v.error} onRetry={v.reload} />
        {v.loading && <Loading what="Loading the video" />}
      </Page>
    );
  }
  const title = titleOf(video);
  return (
    <Page title={title} actions={<StatusBadge status={video.status} />}>
      <ErrorMessage error={v.error} />
      {video.playback_url ? (
        <StagedPlayer key={video.id} video={video} title={title} />
      ) : (
        <div className="card notice" data-testid="not-playable">
          {video.status === 'failed' ? (
            <p>This video could not be processed: {video.error ?? 'unknown error'}.</p>
          ) : (
            <p>This video is {video.status}; it plays as soon as its first rendition is ready.</p>
          )}
        </div>
      )}
      <TranscodeProgress progress={progressOf(video, progress)} />
      <Details video={video} />
    </Page>
  );
}

/**
 * The signed URL is re-signed on every read, so the player is given a new one only when the
 * video becomes ready (the full ladder replaces the early master). The player is never
 * remounted: it loads the new master in place, keeping the viewer's position and play state.
 */
function StagedPlayer({ video, title }: { video: Video; title: string }) {
  const api = useApi();
  const stage = video.status === 'ready' ? 'ready' : 'playable';
  const [shown, setShown] = useState({ stage, video });
  if (shown.stage !== stage && video.playback_url) setShown({ stage, video });
  // One view per page: the beacon keeps the first token (a new one would start a new view).
  const [token] = useState(() => tokenOf(video.playback_url!));
  const id = video.id;
  const refresh = useCallback(
    () => api.request<Video>(`/v1/videos/${encodeURIComponent(id)}`).then(({ data }) => data.playback_url),
    [api, id],
  );
  return (
    <Player
      src={shown.video.playback_url!}
      token={token}
      mediaId={id}
      storyboardUrl={shown.video.storyboard_url}
      poster={shown.video.poster_url}
      title={title}
      refresh={refresh}
    />
  );
}

function Details({ video }: { video: Video }) {
  return (
    <dl className="details">
      <div>
        <dt>Duration</dt>
        <dd>{formatDuration(video.duration_secs)}</dd>
      </div>
      <div>
        <dt>Source</dt>
        <dd>
          {video.width && video.height ? `${video.width}×${video.height}` : '–'} · {formatBytes(video.size ?? NaN)}
        </dd>
      </div>
      <div>
        <dt>Views</dt>
        <dd>
          {video.views} ({video.views_today} today)
        </dd>
      </div>
      <div>
        <dt>Renditions</dt>
        <dd>
          {video.renditions.length === 0
            ? '–'
            : video.renditions
                .map((r) => (r.bandwidth ? `${r.name} (${formatBitrate(r.bandwidth)})` : r.name))
                .join(', ')}
        </dd>
      </div>
    </dl>
  );
}
