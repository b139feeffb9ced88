// The upload wizard: drop or choose files; each gets a direct upload URL from the API and is
// sent to it with tus-js-client (progress, pause/resume, resume after a reload: choose the same
// file again), then a link to the video with its transcode progress.

import { useEffect, useRef, useState, type DragEvent } from 'react';
import { afterSeq } from '../api/client';
import type { Video } from '../api/types';
import { useApi } from '../auth';
import { Freshness, progressOf } from '../catalog';
import { ErrorMessage, Page, ProgressBar, StatusBadge, TranscodeProgress } from '../components/common';
import { useFeed, useFeedEvents } from '../feed';
import { Link } from '../router';
import { videoOf } from '../sse/events';
import { formatBytes } from '../upload/plan';
import { savedUploads, useUpload } from '../upload/useUpload';

export function Upload() {
  const [files, setFiles] = useState<{ id: number; file: File }[]>([]);
  const [over, setOver] = useState(false);
  const [saved] = useState(() => savedUploads());

  const add = (list: FileList | null) => {
    if (!list) return;
    const next = Array.from(list).map((file, i) => ({ id: Date.now() + i, file }));
    setFiles((f) => [...next, ...f]);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    add(e.dataTransfer.files);
  };

  return (
    <Page title="Upload">
      <div
        className={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop video files here, or</p>
        <label className="button primary" htmlFor="file-input">
          Choose files
        </label>
        <input
          id="file-input"
          className="visually-hidden"
          type="file"
          accept="video/*"
          multiple
          onChange={(e) => {
            add(e.target.files);
            e.target.value = '';
          }}
        />
      </div>
      {saved.length > 0 && (
        <section className="card" aria-labelledby="unfinished-title">
          <h2 id="unfinished-title">Unfinished uploads</h2>
          <p className="small muted">Choose the same file again to continue where it stopped.</p>
          <ul>
            {saved.map((s) => (
              <li key={s.direct_id}>
                {s.filename} ({formatBytes(s.size)}), started {new Date(s.saved_at).toLocaleString()}
              </li>
            ))}
          </ul>
        </section>
      )}
      <ul className="uploads" aria-label="Uploads">
        {files.map((f) => (
          <UploadItem key={f.id} file={f.file} />
        ))}
      </ul>
    </Page>
  );
}

const PHASE_TEXT: Record<string, string> = {
  idle: 'Waiting',
  checking: 'Preparing',
  uploading: 'Uploading',
  paused: 'Paused',
  done: 'Uploaded',
  error: 'Stopped',
};

function UploadItem({ file }: { file: File }) {
  const { snap, pause, resume, retry, cancel } = useUpload(file);
  const pct = snap.size > 0 ? (snap.sent / snap.size) * 100 : 0;
  return (
    <li className="card upload" data-phase={snap.phase} data-video-id={snap.videoId ?? ''}>
      <div className="row between wrap">
        <h2 className="card-title">{file.name}</h2>
        <span className="small muted" role="status" aria-live="polite" data-testid="upload-phase">
          {PHASE_TEXT[snap.phase]}
        </span>
      </div>
      <ProgressBar value={pct} label={`Upload of ${file.name}`} />
      <p className="small" data-testid="upload-bytes">
        {formatBytes(snap.sent)} of {formatBytes(snap.size)} ({Math.floor(pct)}%)
        {snap.resumedFrom > 0 && ` · resumed at ${formatBytes(snap.resumedFrom)}`}
      </p>
      <ErrorMessage error={snap.error} />
      <div className="row">
        {snap.phase === 'uploading' && (
          <button type="button" onClick={pause}>
            Pause
          </button>
        )}
        {snap.phase === 'paused' && (
          <button type="button" className="primary" onClick={resume}>
            Resume
          </button>
        )}
        {snap.phase === 'error' && (
          <button type="button" onClick={retry}>
            Retry
          </button>
        )}
        {(snap.phase === 'uploading' || snap.phase === 'paused') && (
          <button type="button" className="danger" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
      {snap.phase === 'done' && snap.videoId && <AfterUpload videoId={snap.videoId} name={file.name} />}
    </li>
  );
}

/** The uploaded video's status and transcode progress, live. */
function AfterUpload({ videoId, name }: { videoId: string; name: string }) {
  const api = useApi();
  const { progress } = useFeed();
  const [video, setVideo] = useState<Video | null>(null);
  const fresh = useRef(new Freshness());
  const refresh = (after?: number) =>
    api
      .request<Video>(afterSeq(`/v1/videos/${videoId}`, after))
      .then(({ data, seq }) => fresh.current.accept(videoId, seq) && setVideo(data))
      .catch(() => undefined);
  useEffect(() => {
    void refresh();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [videoId]);
  useFeedEvents((e) => {
    if (e.kind === 'event' && videoOf(e) === videoId) void refresh(e.seq);
  });
  return (
    <div className="after-upload">
      <p>
        <Link to={`/watch/${videoId}`} data-testid="watch-link">
          Watch {name}
        </Link>{' '}
        {video && <StatusBadge status={video.status} />}
      </p>
      {video && <TranscodeProgress progress={progressOf(video, progress)} />}
    </div>
  );
}
