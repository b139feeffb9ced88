import { describe, expect, it } from 'vitest';
import { RETRY_DELAYS_MS, formatBytes, resumeKey, urlIsSpent } from '../src/upload/plan';

describe('upload rules', () => {
  it('keys resumable uploads by size, mtime and name', () => {
    const a = resumeKey({ name: 'a.mp4', size: 10, lastModified: 1 });
    expect(a).toBe('framelog.upload:10:1:a.mp4');
    expect(resumeKey({ name: 'a.mp4', size: 10, lastModified: 2 })).not.toBe(a);
  });

  it('forgets a direct URL only when the server says it is spent', () => {
    expect([404, 409, 410].every(urlIsSpent)).toBe(true);
    expect([0, 413, 500, 503].some(urlIsSpent)).toBe(false);
  });

  it('retries a dropped connection a few times, the first at once', () => {
    expect(RETRY_DELAYS_MS[0]).toBe(0);
    expect(RETRY_DELAYS_MS.length).toBeGreaterThanOrEqual(3);
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_500_000)).toBe('1.5 MB');
    expect(formatBytes(NaN)).toBe('–');
  });
});
