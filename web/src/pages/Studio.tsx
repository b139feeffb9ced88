// The studio: create streams, see and copy the key (hidden by default), regenerate it after a
// confirmation, OBS settings, live status.

import { useEffect, useState, type FormEvent } from 'react';
import { afterSeq } from '../api/client';
import type { CreatedStream, KeyView, Stream } from '../api/types';
import { useApi } from '../auth';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorMessage, Loading, Page, useLoad } from '../components/common';
import { useFeedEvents } from '../feed';
import { Link } from '../router';

export function Studio() {
  const api = useApi();
  const [seq, setSeq] = useState<number | null>(null);
  const list = useLoad(() => api.get<{ streams: Stream[] }>(afterSeq('/v1/streams', seq)), [api, seq]);
  const [selected, setSelected] = useState<string | null>(null);
  const [keys, setKeys] = useState<Record<string, KeyView>>({});

  useFeedEvents((e) => {
    if (e.kind === 'event' && e.type === 'VID_LIVE') setSeq(e.seq);
  });

  const created = (s: CreatedStream) => {
    setKeys((k) => ({ ...k, [s.stream_id]: s }));
    setSelected(s.stream_id);
    setSeq(s.sequence);
  };

  const streams = list.data?.streams ?? [];
  const current = streams.find((s) => s.id === selected) ?? null;
  return (
    <Page title="Studio">
      <div className="studio">
        <div className="studio-side">
          <CreateStream onCreated={created} />
          <section className="card" aria-labelledby="streams-title">
            <h2 id="streams-title">Your streams</h2>
            <ErrorMessage error={list.error} onRetry={list.reload} />
            {list.loading && !list.data && <Loading what="Loading streams" />}
            {list.data && streams.length === 0 && <p className="muted">No streams yet.</p>}
            <ul className="stream-list">
              {streams.map((s) => (
                <li key={s.id}>
                  <button
                    type="button"
                    className="link-button"
                    aria-pressed={s.id === selected}
                    onClick={() => setSelected(s.id)}
                    data-stream-id={s.id}
                  >
                    {s.name}
                  </button>{' '}
                  {s.live ? <span className="badge badge-live">Live</span> : <span className="badge">Offline</span>}
                </li>
              ))}
            </ul>
          </section>
        </div>
        {selected && (
          <StreamPanel
            key={selected}
            id={selected}
            stream={current}
            keyView={keys[selected] ?? null}
            onKey={(k) => setKeys((all) => ({ ...all, [selected]: k }))}
            onDeleted={(n) => {
              setSelected(null);
              setSeq(n);
            }}
          />
        )}
      </div>
    </Page>
  );
}

function CreateStream({ onCreated }: { onCreated(s: CreatedStream): void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [record, setRecord] = useState(true);
  const [isPublic, setPublic] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError('Give the stream a name.');
    setBusy(true);
    setError(null);
    try {
      onCreated(await api.post<CreatedStream>('/v1/streams', { name: name.trim(), record, public: isPublic }));
      setName('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card form" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New stream</h2>
      <label htmlFor="stream-name">Name</label>
      <input id="stream-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} required />
      <label className="check">
        <input type="checkbox" checked={record} onChange={(e) => setRecord(e.target.checked)} /> Record each broadcast
        as a video
      </label>
      <label className="check">
        <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> Public
      </label>
      <ErrorMessage error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create stream'}
      </button>
    </form>
  );
}

interface PanelProps {
  id: string;
  stream: Stream | null;
  keyView: KeyView | null;
  onKey(k: KeyView): void;
  onDeleted(seq: number | null): void;
}

function StreamPanel({ id, stream, keyView, onKey, onDeleted }: PanelProps) {
  const api = useApi();
  const enc = encodeURIComponent(id);
  const [shown, setShown] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'rotate' | 'delete' | null>(null);
  const detail = useLoad(() => api.get<Stream>(`/v1/streams/${enc}`), [api, id, stream?.live]);

  useEffect(() => setNotice(null), [shown]);

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const reveal = () => act(async () => onKey(await api.post<KeyView>(`/v1/streams/${enc}/key/reveal`)));
  const toggle = () => {
    if (!shown && !keyView) void reveal();
    setShown((s) => !s);
  };
  const copy = () =>
    act(async () => {
      const k = keyView ?? (await api.post<KeyView>(`/v1/streams/${enc}/key/reveal`));
      if (!keyView) onKey(k);
      await copyText(k.stream_key);
      setNotice('Stream key copied.');
    });
  const rotate = () =>
    act(async () => {
      setConfirm(null);
      const k = await api.post<KeyView>(`/v1/streams/${enc}/key/rotate`);
      onKey(k);
      setNotice(`New key generated (generation ${k.generation}). The old key no longer works.`);
    });
  const remove = () =>
    act(async () => {
      setConfirm(null);
      const r = await api.del<{ sequence?: number }>(`/v1/streams/${enc}`);
      onDeleted(r?.sequence ?? null);
    });

  const s = detail.data ?? stream;
  const mask = '•'.repeat(24);
  const keyText = shown && keyView ? keyView.stream_key : mask;
  return (
    <section className="card studio-main" aria-labelledby="panel-title" data-stream-id={id}>
      <div className="row between wrap">
        <h2 id="panel-title">{s?.name ?? id}</h2>
        <span role="status" data-testid="live-status">
          {s?.live ? <span className="badge badge-live">Live</span> : <span className="badge">Offline</span>}
        </span>
      </div>
      <ErrorMessage error={detail.error} />
      <p className="small muted">
        Recording: {s ? (s.record ? 'on' : 'off') : '–'} · {s?.public ? 'Public' : 'Private'} · key generation{' '}
        {keyView?.generation ?? s?.key_generation ?? '–'} · <Link to={`/stream/${id}`}>Open the viewer</Link>
      </p>

      <h3>Stream key</h3>
      <div className="row wrap key-row">
        <code className="key" data-testid="stream-key" data-shown={shown && keyView ? 'true' : 'false'} aria-label="Stream key">
          {keyText}
        </code>
        <button type="button" onClick={toggle} aria-pressed={shown} disabled={busy}>
          {shown ? 'Hide' : 'Show'}
        </button>
        <button type="button" onClick={copy} disabled={busy}>
          Copy
        </button>
        <button type="button" className="danger" onClick={() => setConfirm('rotate')} disabled={busy}>
          Regenerate key
        </button>
      </div>
      {notice && (
        <p className="small" role="status">
          {notice}
        </p>
      )}
      <ErrorMessage error={error} />

      <h3>OBS settings</h3>
      {keyView ? (
        <dl className="details">
          <div>
            <dt>Service</dt>
            <dd>Custom…</dd>
          </div>
          <div>
            <dt>Server</dt>
            <dd>
              <code data-testid="obs-server">{keyView.obs.server}</code>
            </dd>
          </div>
          <div>
            <dt>Stream key</dt>
            <dd>
              <code>{shown ? keyView.obs.key : mask}</code>
            </dd>
          </div>
          {Object.entries(keyView.obs.recommended).map(([k, v]) => (
            <div key={k}>
              <dt>{k.replace(/_/g, ' ')}</dt>
              <dd>{String(v)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p>
          <button type="button" onClick={() => void reveal()} disabled={busy}>
            Load OBS settings
          </button>
        </p>
      )}

      <h3>Danger zone</h3>
      <button type="button" className="danger" onClick={() => setConfirm('delete')} disabled={busy}>
        Delete stream
      </button>

      <ConfirmDialog
        open={confirm === 'rotate'}
        title="Regenerate the stream key?"
        confirmLabel="Regenerate"
        danger
        onConfirm={() => void rotate()}
        onCancel={() => setConfirm(null)}
      >
        <p>The current key stops working at once; a broadcast using it is cut. Update OBS with the new key.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'delete'}
        title="Delete this stream?"
        confirmLabel="Delete"
        danger
        onConfirm={() => void remove()}
        onCancel={() => setConfirm(null)}
      >
        <p>Its key stops working and it leaves the live directory. Recordings stay in the catalog.</p>
      </ConfirmDialog>
    </section>
  );
}

/** The clipboard API where there is one (secure contexts), else a hidden textarea. */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('Copying is not allowed here: show the key and copy it by hand.');
}
