// A Server-Sent Events parser (the WHATWG event-stream format), fed text chunks as they arrive.
// Pure: no I/O, so it is tested on its own and used over a fetch() body (EventSource cannot
// send an Authorization header).

export interface SseMessage {
  /** The last event id seen so far (ids persist across messages, as in EventSource). */
  id: string;
  /** Whether this message itself carried an `id:` field. */
  hasId: boolean;
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private sawId = false;
  private pendingCR = false;
  lastEventId = '';
  /** The last `retry:` value in milliseconds, if the server sent one. */
  retry: number | null = null;

  constructor(private readonly onMessage: (m: SseMessage) => void) {}

  /** Feeds a chunk of decoded text. */
  push(chunk: string): void {
    let text = chunk;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n split across chunks.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) {
        this.pendingCR = true;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  /** Forgets a half-received message (the connection dropped). */
  reset(): void {
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.sawId = false;
    this.pendingCR = false;
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.sawId = true;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const hasId = this.sawId;
    this.sawId = false;
    if (this.data.length === 0) {
      this.event = '';
      return;
    }
    const msg: SseMessage = {
      id: this.lastEventId,
      hasId,
      event: this.event || 'message',
      data: this.data.join('\n'),
    };
    this.data = [];
    this.event = '';
    this.onMessage(msg);
  }
}
