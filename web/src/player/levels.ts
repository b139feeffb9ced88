// Pure player helpers: the quality menu from hls.js levels, and playback stats.

/** What the menu needs of an hls.js Level. */
export interface LevelLike {
  height: number;
  width: number;
  bitrate: number;
  name?: string;
}

export interface LevelOption {
  /** hls.js level index; -1 is Auto (adaptive). */
  value: number;
  label: string;
}

export function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return '–';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbps`;
  return `${Math.round(bps / 1e3)} kbps`;
}

/** "720p" from the height, else the level's name, else its bitrate. */
export function levelName(l: LevelLike): string {
  if (l.height > 0) return `${l.height}p`;
  if (l.name) return l.name;
  return formatBitrate(l.bitrate);
}

/**
 * Auto first, then every level from the highest to the lowest. Two levels with the same
 * height (e.g. two bitrates) are told apart by their bitrate.
 */
export function levelOptions(levels: readonly LevelLike[]): LevelOption[] {
  const names = levels.map(levelName);
  const dup = (n: string) => names.filter((x) => x === n).length > 1;
  const opts = levels.map((l, i) => ({
    value: i,
    label: dup(names[i]!) ? `${names[i]} (${formatBitrate(l.bitrate)})` : names[i]!,
    height: l.height,
    bitrate: l.bitrate,
  }));
  opts.sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  return [{ value: -1, label: 'Auto' }, ...opts.map(({ value, label }) => ({ value, label }))];
}

/** The label shown for the level playing now, e.g. "Auto (480p)" or "720p". */
export function currentLevelLabel(levels: readonly LevelLike[], selected: number, playing: number): string {
  const playingLevel = levels[playing];
  const now = playingLevel ? levelName(playingLevel) : '…';
  if (selected === -1) return `Auto (${now})`;
  const chosen = levels[selected];
  return chosen ? levelName(chosen) : now;
}

export interface TimeRangesLike {
  length: number;
  start(i: number): number;
  end(i: number): number;
}

/** Seconds buffered ahead of `t` in the range that contains it (0 if none does). */
export function bufferAhead(buffered: TimeRangesLike, t: number): number {
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= t + 0.1 && t <= buffered.end(i)) return Math.max(0, buffered.end(i) - t);
  }
  return 0;
}

/** 75 → "1:15", 3700 → "1:01:40". */
export function formatDuration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined || !Number.isFinite(secs) || secs < 0) return '–';
  const s = Math.floor(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The token of a signed playback path `/hls/<token>/<video>/master.m3u8` (for the beacon). */
export function tokenOf(playbackPath: string): string | null {
  const m = /^\/(?:hls|live)\/([^/]+)\/[^/]+\//.exec(playbackPath);
  return m ? decodeURIComponent(m[1]!) : null;
}
