// Watch a live stream with low-latency hls.js settings.

import type { LivePlayback, Stream } from '../api/types';
import { useApi } from '../auth';
import { Player } from '../components/Player';
import { ErrorMessage, Loading, Page, useLoad } from '../components/common';
import { useFeedEvents } from '../feed';

export function LiveViewer({ id }: { id: string }) {
  const api = useApi();
  const enc = encodeURIComponent(id);
  const stream = useLoad(() => api.get<Stream>(`/v1/streams/${enc}`), [api, id]);
  const playback = useLoad(() => api.get<LivePlayback>(`/v1/streams/${enc}/playback`), [api, id]);

  useFeedEvents((e) => {
    if (e.kind === 'event' && e.type === 'VID_LIVE' && e.subject === id) stream.reload();
  });

  const s = stream.data;
  return (
    <Page title={s ? s.name : 'Live stream'} actions={s?.live ? <span className="badge badge-live">Live</span> : null}>
      <ErrorMessage error={stream.error ?? playback.error} onRetry={() => (stream.reload(), playback.reload())} />
      {(stream.loading || playback.loading) && !s && <Loading what="Loading the stream" />}
      {s && !s.live && (
        <div className="card notice" role="status">
          This stream is offline. The player starts when it goes live.
        </div>
      )}
      {s?.live && playback.data && (
        <Player
          key={s.current_session?.id ?? 'live'}
          src={playback.data.hls_path}
          live
          token={playback.data.token}
          mediaId={id}
          title={`${s.name} (live)`}
        />
      )}
    </Page>
  );
}
