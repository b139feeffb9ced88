// A seek bar with storyboard thumbnails on hover (and while moving it with the keyboard).

import { useState, type MouseEvent } from 'react';
import { formatDuration } from '../player/levels';
import { thumbAt, type Thumb } from '../player/storyboard';

interface Props {
  duration: number;
  current: number;
  thumbs: Thumb[];
  onSeek(t: number): void;
}

export function SeekBar({ duration, current, thumbs, onSeek }: Props) {
  const [hover, setHover] = useState<{ t: number; x: number } | null>(null);
  const [focused, setFocused] = useState(false);
  const max = Number.isFinite(duration) && duration > 0 ? duration : 0;

  const onMove = (e: MouseEvent<HTMLDivElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = Math.max(0, Math.min(r.width, e.clientX - r.left));
    setHover({ t: r.width > 0 ? (x / r.width) * max : 0, x });
  };

  const shown = hover ?? (focused && max > 0 ? { t: current, x: null } : null);
  const thumb = shown ? thumbAt(thumbs, shown.t) : null;
  const left = shown && shown.x !== null ? shown.x : max > 0 ? `${(current / max) * 100}%` : 0;

  return (
    <div className="seek" onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
      <input
        type="range"
        aria-label="Seek"
        min={0}
        max={max || 1}
        step={0.1}
        value={Math.min(current, max || 1)}
        aria-valuetext={`${formatDuration(current)} of ${formatDuration(max)}`}
        disabled={max === 0}
        onChange={(e) => onSeek(Number(e.target.value))}
        onFocus={() => setFocused(true)}
        onBlur={() => setFocused(false)}
      />
      {shown && (
        <div className="seek-preview" style={{ left }} data-testid="seek-preview" aria-hidden="true">
          {thumb && thumb.w > 0 && (
            <div
              className="thumb"
              style={{
                width: thumb.w,
                height: thumb.h,
                backgroundImage: `url("${thumb.url}")`,
                backgroundPosition: `-${thumb.x}px -${thumb.y}px`,
              }}
            />
          )}
          <span>{formatDuration(shown.t)}</span>
        </div>
      )}
    </div>
  );
}
