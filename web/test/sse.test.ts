import { describe, expect, it } from 'vitest';
import { connectFeed, type FeedStatus } from '../src/sse/connect';
import { changesVideo, decodeFeed, videoOf } from '../src/sse/events';
import { SseParser, type SseMessage } from '../src/sse/parser';

function parse(chunks: string[]): { msgs: SseMessage[]; p: SseParser } {
  const msgs: SseMessage[] = [];
  const p = new SseParser((m) => msgs.push(m));
  for (const c of chunks) p.push(c);
  return { msgs, p };
}

describe('SSE parser', () => {
  it('reads id, event and multi-line data', () => {
    const { msgs } = parse(['id: 7\nevent: VID_READY\ndata: {"a":\ndata: 1}\n\n']);
    expect(msgs).toEqual([{ id: '7', hasId: true, event: 'VID_READY', data: '{"a":\n1}' }]);
  });

  it('handles fields split across chunks and CRLF split between chunks', () => {
    const { msgs } = parse(['id: 1\r', '\nevent: progr', 'ess\r\ndata: x\r', '\n\r', '\n']);
    expect(msgs).toEqual([{ id: '1', hasId: true, event: 'progress', data: 'x' }]);
  });

  it('ignores comments (keep-alives) and unknown fields; keeps the last id', () => {
    const { msgs, p } = parse([':\n\nid: 3\ndata: a\n\nfoo: bar\nevent: progress\ndata: b\n\n']);
    expect(msgs.map((m) => [m.id, m.hasId, m.event, m.data])).toEqual([
      ['3', true, 'message', 'a'],
      ['3', false, 'progress', 'b'],
    ]);
    expect(p.lastEventId).toBe('3');
  });

  it('reads retry and drops data-less messages', () => {
    const { msgs, p } = parse(['retry: 2500\n\nid: 9\n\nretry: x\n\n']);
    expect(msgs).toEqual([]);
    expect(p.retry).toBe(2500);
    expect(p.lastEventId).toBe('9');
  });
});

describe('feed events', () => {
  const ce = { id: 'e', type: 'VID_TRANSCODE', subject: 'vid-1', time: '2026-01-01T00:00:00Z', source: 's', data: { phase: 'started' } };

  it('decodes log events with their sequence', () => {
    const e = decodeFeed({ id: '42', hasId: true, event: 'VID_TRANSCODE', data: JSON.stringify(ce) })!;
    expect(e).toMatchObject({ kind: 'event', seq: 42, type: 'VID_TRANSCODE', phase: 'started', subject: 'vid-1' });
    expect(videoOf(e)).toBe('vid-1');
    expect(changesVideo(e)).toBe(true);
  });

  it('decodes progress (services/projection/src/api/events.rs shape)', () => {
    const data = { subject: 'vidp.acme.transcode.vid-1', kind: 'transcode', aggregate: 'vid-1', progress: { percent: 41.5, eta_secs: 3.2, stage: 'lowest' } };
    const e = decodeFeed({ id: '42', hasId: false, event: 'progress', data: JSON.stringify(data) })!;
    expect(e).toMatchObject({ kind: 'progress', aggregate: 'vid-1', progress: { percent: 41.5, eta_secs: 3.2, stage: 'lowest' } });
    expect(videoOf(e)).toBe('vid-1');
    expect(changesVideo(e)).toBe(false);
  });

  it('skips what it cannot read; live events are about streams', () => {
    expect(decodeFeed({ id: '', hasId: false, event: 'message', data: 'not json' })).toBeNull();
    expect(decodeFeed({ id: '', hasId: false, event: 'progress', data: '{"aggregate":"v","progress":"text"}' })).toBeNull();
    const live = decodeFeed({ id: '5', hasId: true, event: 'VID_LIVE', data: JSON.stringify({ ...ce, type: 'VID_LIVE', subject: 'str-1' }) })!;
    expect(videoOf(live)).toBeNull();
  });
});

describe('feed connection', () => {
  function stream(text: string[]): ReadableStream<Uint8Array> {
    const enc = new TextEncoder();
    return new ReadableStream({
      start(c) {
        for (const t of text) c.enqueue(enc.encode(t));
        c.close();
      },
    });
  }

  it('reconnects with Last-Event-ID after the stream ends, backing off', async () => {
    const calls: Record<string, string>[] = [];
    const bodies = [['id: 10\nevent: VID_UPLOAD\ndata: {}\n\n'], ['retry: 100\nid: 11\nevent: VID_READY\ndata: {}\n\n']];
    const got: string[] = [];
    const statuses: FeedStatus[] = [];
    const sleeps: number[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const h = connectFeed({
      url: '/v1/events',
      key: 'KEY',
      lastEventId: '9',
      onMessage: (m) => got.push(`${m.id}:${m.event}`),
      onStatus: (s) => statuses.push(s),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      fetch: async (_u, init) => {
        calls.push(Object.fromEntries(new Headers(init?.headers).entries()));
        const body = bodies.shift();
        if (!body) {
          h.close();
          done();
          throw new Error('closed');
        }
        return new Response(stream(body), { status: 200 });
      },
    });
    await finished;
    expect(got).toEqual(['10:VID_UPLOAD', '11:VID_READY']);
    expect(calls.map((c) => c['last-event-id'])).toEqual(['9', '10', '11']);
    expect(calls[0]!.authorization).toBe('Bearer KEY');
    expect(sleeps).toEqual([1000, 100]);
    expect(statuses).toContain('open');
    expect(statuses).toContain('reconnecting');
    expect(h.lastEventId()).toBe('11');
  });

  it('stops on an authentication error, with the API’s message', async () => {
    let status: [FeedStatus, string | undefined] | null = null;
    await new Promise<void>((resolve) => {
      connectFeed({
        url: '/v1/events',
        key: 'bad',
        onMessage: () => undefined,
        onStatus: (s, e) => {
          if (s === 'failed') {
            status = [s, e];
            resolve();
          }
        },
        fetch: async () => new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'unknown API key' } }), { status: 401 }),
      });
    });
    expect(status).toEqual(['failed', 'unknown API key']);
  });
});
