// How one chunk travels: XMLHttpRequest in the browser (fetch() has no upload progress), or
// fetch() where XHR is missing. Tests pass their own.

export interface ChunkRequest {
  url: string;
  body: ArrayBuffer;
  headers: Record<string, string>;
  signal: AbortSignal;
  onProgress: (loaded: number) => void;
}

export interface ChunkResponse {
  status: number;
  body: string;
}

export type ChunkTransport = (req: ChunkRequest) => Promise<ChunkResponse>;

export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}

export const xhrTransport: ChunkTransport = (req) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', req.url);
    for (const [k, v] of Object.entries(req.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => req.onProgress(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => resolve({ status: 0, body: '' });
    xhr.onabort = () => reject(new AbortedError());
    if (req.signal.aborted) return reject(new AbortedError());
    req.signal.addEventListener('abort', () => xhr.abort());
    xhr.send(req.body);
  });

export function fetchTransport(doFetch: typeof fetch): ChunkTransport {
  return async (req) => {
    try {
      const res = await doFetch(req.url, {
        method: 'PUT',
        body: req.body,
        headers: req.headers,
        signal: req.signal,
      });
      const body = await res.text();
      if (res.ok) req.onProgress(req.body.byteLength);
      return { status: res.status, body };
    } catch (e) {
      if (req.signal.aborted) throw new AbortedError();
      void e;
      return { status: 0, body: '' };
    }
  };
}

export function defaultTransport(): ChunkTransport {
  return typeof XMLHttpRequest === 'function' ? xhrTransport : fetchTransport(fetch);
}

/**
 * Hex sha256 of some bytes (WebCrypto), or null where WebCrypto is missing: it exists only in
 * secure contexts (HTTPS, localhost), and the digest header is optional, so a UI served over
 * plain HTTP on a LAN address still uploads, without per-chunk digests.
 */
export async function sha256Hex(data: ArrayBuffer): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
