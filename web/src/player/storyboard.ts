// Storyboard thumbnails: the WebVTT index the transcoder writes (one cue per thumbnail,
// `sprites.jpg#xywh=x,y,w,h`), parsed into cues with absolute image URLs, and a lookup by time.

export interface Thumb {
  start: number;
  end: number;
  url: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `HH:MM:SS.mmm` or `MM:SS.mmm` to seconds; NaN if malformed. */
export function parseVttTime(s: string): number {
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$/.exec(s.trim());
  if (!m) return NaN;
  const [, h, mm, ss, ms] = m;
  return Number(h ?? 0) * 3600 + Number(mm) * 60 + Number(ss) + Number((ms ?? '0').padEnd(3, '0')) / 1000;
}

/**
 * Parses a storyboard VTT. `base` is the VTT's own URL: image URIs are relative to it (and so
 * inherit a signed path's token). Cues without `#xywh=` use the whole image.
 */
export function parseStoryboard(vtt: string, base: string): Thumb[] {
  const out: Thumb[] = [];
  const lines = vtt.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes('-->')) continue;
    const [a, b] = line.split('-->');
    const start = parseVttTime(a ?? '');
    const end = parseVttTime((b ?? '').trim().split(/\s+/)[0] ?? '');
    const payload = (lines[i + 1] ?? '').trim();
    if (!Number.isFinite(start) || !Number.isFinite(end) || !payload) continue;
    const [uri, frag] = payload.split('#');
    const xywh = /xywh=(?:pixel:)?(\d+),(\d+),(\d+),(\d+)/.exec(frag ?? '');
    out.push({
      start,
      end,
      url: new URL(uri ?? '', base).toString(),
      x: xywh ? Number(xywh[1]) : 0,
      y: xywh ? Number(xywh[2]) : 0,
      w: xywh ? Number(xywh[3]) : 0,
      h: xywh ? Number(xywh[4]) : 0,
    });
    i++;
  }
  return out.sort((p, q) => p.start - q.start);
}

/** The thumbnail shown at `t` seconds (binary search; the last one past the end). */
export function thumbAt(thumbs: readonly Thumb[], t: number): Thumb | null {
  if (thumbs.length === 0 || !Number.isFinite(t)) return null;
  let lo = 0;
  let hi = thumbs.length - 1;
  if (t >= thumbs[hi]!.start) return thumbs[hi]!;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (thumbs[mid]!.start <= t) lo = mid;
    else hi = mid - 1;
  }
  return thumbs[lo]!;
}
