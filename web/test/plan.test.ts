import { describe, expect, it } from 'vitest';
import { backoffMs, expandRanges, formatBytes, isRetryable, planChunks, resumeKey } from '../src/upload/plan';

describe('chunk planning', () => {
  it('covers the file exactly, the last chunk short', () => {
    expect(planChunks(25, 10)).toEqual([
      { index: 0, start: 0, end: 10 },
      { index: 1, start: 10, end: 20 },
      { index: 2, start: 20, end: 25 },
    ]);
    expect(planChunks(20, 10).map((c) => c.end - c.start)).toEqual([10, 10]);
    expect(planChunks(0, 10)).toEqual([]);
  });

  it('follows the server’s chunk count', () => {
    expect(planChunks(5 * 1024 * 1024 + 1, 5 * 1024 * 1024, 2)).toHaveLength(2);
  });

  it('rejects a zero chunk size', () => {
    expect(() => planChunks(10, 0)).toThrow();
  });

  it('expands inclusive missing ranges', () => {
    expect(expandRanges([])).toEqual([]);
    expect(expandRanges([[0, 2], [5, 5], [7, 8]])).toEqual([0, 1, 2, 5, 7, 8]);
  });

  it('keys resumable uploads by size, mtime and name', () => {
    const a = resumeKey({ name: 'a.mp4', size: 10, lastModified: 1 });
    expect(a).toBe('framelog.upload:10:1:a.mp4');
    expect(resumeKey({ name: 'a.mp4', size: 10, lastModified: 2 })).not.toBe(a);
  });

  it('retries only what a retry can fix', () => {
    expect(isRetryable(0, '')).toBe(true);
    expect(isRetryable(503, 'unavailable')).toBe(true);
    expect(isRetryable(500, 'internal')).toBe(true);
    expect(isRetryable(429, '')).toBe(true);
    expect(isRetryable(409, 'chunk_in_progress')).toBe(true);
    expect(isRetryable(400, 'digest_mismatch')).toBe(true);
    expect(isRetryable(409, 'chunk_conflict')).toBe(false);
    expect(isRetryable(400, 'chunk_length_mismatch')).toBe(false);
    expect(isRetryable(401, 'unauthorized')).toBe(false);
    expect(isRetryable(410, 'upload_gone')).toBe(false);
    expect(isRetryable(507, 'insufficient_storage')).toBe(false);
  });

  it('backs off exponentially up to 15 s', () => {
    expect([1, 2, 3, 4, 10].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 15000]);
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_500_000)).toBe('1.5 MB');
    expect(formatBytes(NaN)).toBe('–');
  });
});
