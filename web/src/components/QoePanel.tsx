// The dashboard's viewer QoE panel: the tenant's last 30 days from `GET /v1/qoe` (total and per
// day), and one video's from `GET /v1/videos/{id}/qoe` when an id is entered. Figures and
// score as the projection computes them (events/src/fold/qoe.rs).

import { useState } from 'react';
import { useApi } from '../auth';
import { ErrorMessage, Loading, useLoad } from './common';

export interface QoeReport {
  views: number;
  summaries: number;
  watch_secs: number;
  rebuffer_secs: number;
  rebuffer_ratio: number;
  rebuffer_count: number;
  rebuffers_per_minute: number;
  switches: number;
  errors: number;
  error_codes: Record<string, number>;
  startup_mean_ms: number | null;
  startup_p50_ms: number | null;
  startup_p95_ms: number | null;
  latency_mean_ms: number | null;
  startup_score: number | null;
  smoothness_score: number | null;
  success_score: number | null;
  score: number | null;
}

export interface QoeRange {
  from: string;
  to: string;
  total: QoeReport;
  days: (QoeReport & { day: string })[];
}

export interface VideoQoe {
  video_id: string;
  total: QoeReport;
  days: (QoeReport & { day: string })[];
}

const ms = (v: number | null) => (v === null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);
const score = (v: number | null) => (v === null ? '–' : v.toFixed(0));

function Figures({ r, label }: { r: QoeReport; label: string }) {
  const rows: [string, string, string][] = [
    ['Views with QoE', String(r.views), 'views'],
    ['Watch time', `${(r.watch_secs / 60).toFixed(1)} min`, 'watch'],
    ['Startup p50 / p95', `≤ ${ms(r.startup_p50_ms)} / ≤ ${ms(r.startup_p95_ms)}`, 'startup'],
    ['Rebuffer ratio', `${(r.rebuffer_ratio * 100).toFixed(2)} %`, 'rebuffer-ratio'],
    ['Rebuffers', String(r.rebuffer_count), 'rebuffers'],
    ['Quality switches', String(r.switches), 'switches'],
    ['Fatal errors', String(r.errors), 'errors'],
    ['Score', score(r.score), 'score'],
  ];
  if (r.latency_mean_ms !== null) rows.splice(3, 0, ['Live latency', ms(r.latency_mean_ms), 'latency']);
  return (
    <dl className="details" aria-label={label}>
      {rows.map(([dt, dd, key]) => (
        <div key={key}>
          <dt>{dt}</dt>
          <dd data-qoe={key}>{dd}</dd>
        </div>
      ))}
    </dl>
  );
}

export function QoePanel() {
  const api = useApi();
  const range = useLoad(() => api.get<QoeRange>('/v1/qoe'), [api]);
  const [video, setVideo] = useState('');
  const [asked, setAsked] = useState('');
  const one = useLoad(
    () => (asked ? api.get<VideoQoe>(`/v1/videos/${encodeURIComponent(asked)}/qoe`) : Promise.resolve(null)),
    [api, asked],
  );
  const r = range.data;
  return (
    <section className="card" aria-labelledby="qoe-title" data-testid="qoe-panel">
      <div className="row between wrap">
        <h2 id="qoe-title">Viewer experience</h2>
        <button type="button" onClick={range.reload}>
          Refresh
        </button>
      </div>
      <ErrorMessage error={range.error} onRetry={range.reload} />
      {range.loading && !r && <Loading what="Loading viewer experience" />}
      {r && (
        <>
          <p className="small muted">
            {r.from} to {r.to}. Score = 100 × success × (startup + smoothness) / 2.
          </p>
          <Figures r={r.total} label="Viewer experience, last 30 days" />
        </>
      )}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked(video.trim());
        }}
      >
        <label htmlFor="qoe-video">Video</label>
        <input id="qoe-video" value={video} placeholder="video id" onChange={(e) => setVideo(e.target.value)} />
        <button type="submit">Show</button>
      </form>
      <ErrorMessage error={asked ? one.error : null} />
      {one.data && (
        <div data-testid="qoe-video">
          <h3>{one.data.video_id}</h3>
          <Figures r={one.data.total} label={`Viewer experience of ${one.data.video_id}`} />
        </div>
      )}
    </section>
  );
}
