import { describe, expect, it } from 'vitest';
import type { Video } from '../src/api/types';
import { afterSeq } from '../src/api/client';
import { progressOf, removeVideo, titleOf, upsertVideo } from '../src/catalog';
import { matchPath } from '../src/router';

const v = (id: string, created: string, status: Video['status'] = 'processing'): Video =>
  ({ id, created_at: created, status, filename: `${id}.mp4`, progress: null }) as unknown as Video;

describe('catalog state', () => {
  it('replaces a known video in place and adds a new one by creation time', () => {
    const list = [v('b', '2026-01-02'), v('a', '2026-01-01')];
    expect(upsertVideo(list, v('a', '2026-01-01', 'ready')).map((x) => [x.id, x.status])).toEqual([
      ['b', 'processing'],
      ['a', 'ready'],
    ]);
    expect(upsertVideo(list, v('c', '2026-01-03')).map((x) => x.id)).toEqual(['c', 'b', 'a']);
    expect(removeVideo(list, 'b').map((x) => x.id)).toEqual(['a']);
  });

  it('shows live progress while processing only', () => {
    const live = { a: { percent: 40 } };
    expect(progressOf(v('a', ''), live)).toEqual({ percent: 40 });
    expect(progressOf(v('a', '', 'ready'), live)).toBeNull();
    expect(progressOf({ ...v('b', ''), progress: { percent: 5 } }, live)).toEqual({ percent: 5 });
  });

  it('titles videos by file name without extension', () => {
    expect(titleOf({ id: 'x', filename: 'Holiday.mp4' })).toBe('Holiday');
    expect(titleOf({ id: 'x', filename: null })).toBe('x');
  });

  it('asks for read-your-writes with after_seq', () => {
    expect(afterSeq('/v1/streams', 7)).toBe('/v1/streams?after_seq=7');
    expect(afterSeq('/v1/videos?limit=2', 7)).toBe('/v1/videos?limit=2&after_seq=7');
    expect(afterSeq('/v1/streams', null)).toBe('/v1/streams');
  });
});

describe('router', () => {
  it('matches patterns with params', () => {
    expect(matchPath('/watch/:id', '/watch/vid-1')).toEqual({ id: 'vid-1' });
    expect(matchPath('/', '/')).toEqual({});
    expect(matchPath('/watch/:id', '/watch')).toBeNull();
    expect(matchPath('/live', '/stream/x')).toBeNull();
  });
});

describe('a list read against the feed', () => {
  it('is read again when it is older than where the feed starts', async () => {
    const { readBehindFeed } = await import('../src/catalog');
    expect(readBehindFeed(7, 9)).toBe(true);
    expect(readBehindFeed(9, 9)).toBe(false);
    expect(readBehindFeed(12, 9)).toBe(false);
    expect(readBehindFeed(null, 9)).toBe(false);
    expect(readBehindFeed(7, null)).toBe(false);
  });
});

describe('freshness of reads', () => {
  it('drops a read older than the one shown', async () => {
    const { Freshness } = await import('../src/catalog');
    const f = new Freshness();
    expect(f.accept('a', 10)).toBe(true);
    expect(f.accept('a', 12)).toBe(true);
    expect(f.accept('a', 11)).toBe(false);
    expect(f.accept('a', 12)).toBe(true);
    expect(f.accept('b', 1)).toBe(true);
    expect(f.accept('a', null)).toBe(true);
  });
});
