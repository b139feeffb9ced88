// The one HTTP client of the UI: relative URLs (the UI shares the API's origin), the tenant's
// API key as a Bearer token, and the API's `{"error":{"code","message"}}` turned into ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Fetch = typeof fetch;

/** The API's error message from a response body, or a fallback naming the status. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${res.status} ${res.statusText || 'error'}`.trim();
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body?.error?.message) message = body.error.message;
    if (body?.error?.code) code = body.error.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

/** A message to show for anything thrown. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message === 'Failed to fetch' ? 'The server cannot be reached.' : e.message;
  return String(e);
}

export interface Answer<T> {
  data: T;
  /** `X-Projection-Seq`: the VID sequence a projection read was made at. */
  seq: number | null;
}

export class Api {
  constructor(
    private readonly key: string,
    private readonly doFetch: Fetch = (...a) => fetch(...a),
  ) {}

  headers(extra?: HeadersInit): Headers {
    const h = new Headers(extra);
    h.set('Authorization', `Bearer ${this.key}`);
    return h;
  }

  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.doFetch(path, { ...init, headers: this.headers(init.headers) });
    if (!res.ok) throw await errorFrom(res);
    return res;
  }

  async request<T>(path: string, init: RequestInit = {}): Promise<Answer<T>> {
    const res = await this.raw(path, init);
    const seqHeader = res.headers.get('x-projection-seq');
    const data = res.status === 204 ? (undefined as T) : ((await res.json()) as T);
    return { data, seq: seqHeader === null ? null : Number(seqHeader) };
  }

  async get<T>(path: string): Promise<T> {
    return (await this.request<T>(path)).data;
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method: 'POST' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    return (await this.request<T>(path, init)).data;
  }

  async del<T>(path: string): Promise<T> {
    return (await this.request<T>(path, { method: 'DELETE' })).data;
  }
}

/** `path?after_seq=N` when a write answered with a sequence (read your writes). */
export function afterSeq(path: string, seq: number | null | undefined): string {
  if (seq === null || seq === undefined) return path;
  return `${path}${path.includes('?') ? '&' : '?'}after_seq=${seq}`;
}
