// The dashboard: counters, the live event feed (filterable), the month's billing usage and the
// viewer QoE panel.

import { useEffect, useRef, useState } from 'react';
import type { Stats, Usage } from '../api/types';
import { useApi } from '../auth';
import { BarChart } from '../components/BarChart';
import { ErrorMessage, Loading, Page, useLoad } from '../components/common';
import { QoePanel } from '../components/QoePanel';
import { useFeed, useFeedEvents } from '../feed';
import { EVENT_TYPES, type FeedEvent } from '../sse/events';
import { formatBytes } from '../upload/plan';

function thisMonth(): string {
  return new Date().toISOString().slice(0, 7);
}

export function Dashboard() {
  const api = useApi();
  const stats = useLoad(() => api.get<Stats>('/v1/stats'), [api]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useFeedEvents((e) => {
    if (e.kind !== 'event' || timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      stats.reload();
    }, 1000);
  });
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  const s = stats.data;
  const counters: [string, number | undefined][] = [
    ['Processing', s ? s.videos.processing + s.videos.playable : undefined],
    ['Ready', s?.videos.ready],
    ['Live now', s?.live_now],
    ['Views today', s?.views_today],
  ];
  return (
    <Page title="Dashboard">
      <ErrorMessage error={stats.error} onRetry={stats.reload} />
      <ul className="counters" aria-label="Counters">
        {counters.map(([label, n]) => (
          <li key={label} className="card counter" data-counter={label}>
            <span className="counter-value">{n ?? '–'}</span>
            <span className="counter-label">{label}</span>
          </li>
        ))}
      </ul>
      <div className="dash">
        <EventFeed />
        <UsagePanel />
        <QoePanel />
      </div>
    </Page>
  );
}

function describe(e: FeedEvent): string {
  if (e.kind === 'progress') {
    return `${e.aggregate}: ${Math.round(e.progress.percent)}%${e.progress.stage ? ` (${e.progress.stage})` : ''}`;
  }
  const d = e.event.data;
  const what = typeof d.name === 'string' ? d.name : typeof d.filename === 'string' ? d.filename : e.subject;
  return `${what}${e.phase ? `: ${e.phase.replace(/_/g, ' ')}` : ''}`;
}

function EventFeed() {
  const { recent, status, error } = useFeed();
  const [type, setType] = useState('');
  const shown = recent.filter((e) => !type || (e.kind === 'progress' ? type === 'progress' : e.type === type)).slice(0, 50);
  return (
    <section className="card feed-panel" aria-labelledby="feed-title">
      <div className="row between wrap">
        <h2 id="feed-title">Live events</h2>
        <div className="row">
          <label htmlFor="event-type">Type</label>
          <select id="event-type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">All</option>
            {EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
            <option value="progress">progress</option>
          </select>
        </div>
      </div>
      <ErrorMessage error={status === 'failed' ? (error ?? 'The event feed stopped.') : null} />
      {shown.length === 0 && <p className="muted">No events yet: they appear here as they happen.</p>}
      <ol className="events" aria-live="polite" aria-relevant="additions">
        {shown.map((e, i) => (
          <li key={e.kind === 'event' ? `s${e.seq}` : `p${i}${e.time}`} data-type={e.kind === 'event' ? e.type : 'progress'}>
            <time className="small muted" dateTime={e.time}>
              {new Date(e.time).toLocaleTimeString()}
            </time>{' '}
            <span className="badge">{e.kind === 'event' ? e.type : 'progress'}</span> <span>{describe(e)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function UsagePanel() {
  const api = useApi();
  const [month, setMonth] = useState(thisMonth);
  const usage = useLoad(() => api.get<Usage>(`/v1/billing/usage?month=${encodeURIComponent(month)}`), [api, month]);
  const u = usage.data;
  const bars = u
    ? Object.entries(u.meters.transcode_cpu_seconds.by_profile).map(([label, value]) => ({
        label,
        value,
        text: `${value.toFixed(1)} s`,
      }))
    : [];
  return (
    <section className="card" aria-labelledby="usage-title">
      <div className="row between wrap">
        <h2 id="usage-title">Usage</h2>
        <div className="row">
          <label htmlFor="usage-month">Month</label>
          <input id="usage-month" type="month" value={month} onChange={(e) => e.target.value && setMonth(e.target.value)} />
        </div>
      </div>
      <ErrorMessage error={usage.error} onRetry={usage.reload} />
      {usage.loading && !u && <Loading what="Loading usage" />}
      {u && (
        <>
          <h3>Transcoding CPU by rendition</h3>
          {bars.length > 0 ? (
            <BarChart title="Transcoding CPU seconds by rendition" bars={bars} />
          ) : (
            <p className="muted">No transcoding in {u.month}.</p>
          )}
          <dl className="details">
            <div>
              <dt>Transcoding</dt>
              <dd>{u.meters.transcode_cpu_seconds.total.toFixed(1)} CPU s</dd>
            </div>
            <div>
              <dt>Storage</dt>
              <dd>{formatBytes(u.meters.storage_bytes)}</dd>
            </div>
            <div>
              <dt>Egress</dt>
              <dd>{formatBytes(u.meters.egress_bytes)}</dd>
            </div>
            <div>
              <dt>Live</dt>
              <dd>{u.meters.live_minutes.toFixed(1)} min</dd>
            </div>
            <div>
              <dt>Uploads</dt>
              <dd>{u.meters.uploads}</dd>
            </div>
            {u.amounts && (
              <div>
                <dt>Amount due</dt>
                <dd>
                  {u.amounts.total.toFixed(2)} {u.amounts.currency}
                </dd>
              </div>
            )}
          </dl>
        </>
      )}
    </section>
  );
}
