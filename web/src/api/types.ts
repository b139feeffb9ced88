// Shapes of the API answers the UI reads (from the Rust handlers).

export type VideoStatus = 'uploading' | 'processing' | 'playable' | 'ready' | 'failed';

export interface Rendition {
  name: string;
  width?: number;
  height?: number;
  fps?: number;
  bandwidth?: number;
  average_bandwidth?: number;
  codecs?: string;
  bytes?: number;
}

export interface Progress {
  percent: number;
  eta_secs?: number | null;
  stage?: string;
}

export interface Video {
  id: string;
  status: VideoStatus;
  filename: string | null;
  size: number | null;
  duration_secs: number | null;
  width: number | null;
  height: number | null;
  renditions: Rendition[];
  views: number;
  views_today: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  playback_url: string | null;
  poster_url: string | null;
  storyboard_url: string | null;
  progress?: Progress | string | null;
}

export interface VideoPage {
  videos: Video[];
  next_cursor: string | null;
}

export interface Session {
  id: string;
  started_at: string | null;
  ended_at: string | null;
  duration_secs: number | null;
  protocol: string | null;
  live: boolean;
  recording_video_id: string | null;
}

export interface Stream {
  id: string;
  name: string;
  record: boolean;
  public: boolean;
  key_generation: number;
  live: boolean;
  current_session: Session | null;
  created_at: string;
  sessions?: Session[];
}

export interface LiveNow {
  stream_id: string;
  name: string;
  session_id: string;
  started_at: string | null;
  protocol: string | null;
  public: boolean;
}

export interface ObsSettings {
  server: string;
  key: string;
  recommended: Record<string, string | number>;
}

export interface KeyView {
  stream_key: string;
  rtmp_url: string;
  publish_url: string;
  obs: ObsSettings;
  generation: number;
  sequence?: number;
}

export interface LivePlayback {
  hls_path: string;
  token: string;
  expires_at: number;
}

export interface CreatedStream extends KeyView {
  stream_id: string;
  name: string;
  record: boolean;
  public: boolean;
  playback: LivePlayback;
  sequence: number;
}

export interface ViewerCount {
  stream_id: string;
  viewers: number;
}

export interface Stats {
  videos: Record<VideoStatus | 'total', number>;
  streams: number;
  live_now: number;
  views_today: number;
  day: string;
}

export interface Usage {
  month: string;
  meters: {
    transcode_cpu_seconds: { total: number; by_profile: Record<string, number> };
    storage_bytes: number;
    egress_bytes: number;
    live_minutes: number;
    uploads: number;
  };
  amounts: null | {
    currency: string;
    transcode: number;
    storage: number;
    egress: number;
    live: number;
    uploads: number;
    total: number;
  };
}

/** A CloudEvent from the feed (DESIGN §2). */
export interface CloudEvent {
  id: string;
  type: string;
  subject: string;
  time: string;
  source: string;
  data: { phase?: string } & Record<string, unknown>;
}
