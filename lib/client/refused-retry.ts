import type * as http from "node:http";
import type { Readable } from "node:stream";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { HttpExchange, ResponseHead } from "./exchange.js";

/** How many times a refused stream is sent again before the call fails (grpc-go retries transparently too). */
export const REFUSED_STREAM_RETRIES = 2;

/** An HTTP/2 exchange that can tell whether the server refused it unprocessed. */
export interface RefusableExchange extends HttpExchange {
  /** The server never processed the stream (RFC 9113, section 8.7) and no response arrived. */
  refused(): boolean;
  /** Takes the exchange's session out of the pool for new streams. */
  retireSession(): void;
}

/**
 * An exchange whose whole request body is known (unary and server-streaming
 * calls: one message) sent again on another stream when the server refuses
 * it: RST_STREAM REFUSED_STREAM, or a GOAWAY below its stream id (as nginx
 * does after `http2_max_requests`). RFC 9113, section 8.7: such a request was
 * not processed and can be retried. The body written so far is kept until the
 * response head arrives, then dropped; after `REFUSED_STREAM_RETRIES` retries
 * the call fails with `unavailable`.
 */
export class ReplayingExchange implements HttpExchange {
  readonly head: Promise<ResponseHead>;
  private current: RefusableExchange;
  private sent: Uint8Array[] | undefined = [];
  private ended = false;

  constructor(
    first: RefusableExchange,
    private readonly reopen: () => Promise<RefusableExchange>,
  ) {
    this.current = first;
    // The usual case, a head on the first stream, costs one `then` and no async function.
    this.head = first.head.then(
      (head) => this.accepted(head),
      (e: unknown) => this.retried(e),
    );
    this.head.catch(() => {});
  }

  private accepted(head: ResponseHead): ResponseHead {
    this.sent = undefined;
    return head;
  }

  /** After the current stream failed with `e`: sends the request again while the server refuses it unprocessed. */
  private async retried(e: unknown): Promise<ResponseHead> {
    for (let retries = 0; ; retries++) {
      if (!this.current.refused()) throw e;
      this.current.retireSession();
      if (retries >= REFUSED_STREAM_RETRIES) {
        throw new ConnectError(
          `the server refused the stream unprocessed ${retries + 1} times (HTTP/2 REFUSED_STREAM or GOAWAY, ` +
            "RFC 9113 section 8.7); expected it to accept one on a new connection",
          Code.Unavailable,
          { cause: e },
        );
      }
      this.current = await this.reopen();
      for (const chunk of this.sent ?? []) this.current.write(chunk).catch(() => {});
      if (this.ended) this.current.end();
      try {
        return this.accepted(await this.current.head);
      } catch (next) {
        e = next;
      }
    }
  }

  get body(): Readable {
    return this.current.body;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.sent?.push(chunk);
    const exchange = this.current;
    try {
      await exchange.write(chunk);
    } catch (e) {
      // A refused stream's chunk is sent again on the next one.
      if (this.sent && exchange.refused()) return;
      throw e;
    }
  }

  end(): void {
    this.ended = true;
    this.current.end();
  }

  trailers(): http.IncomingHttpHeaders {
    return this.current.trailers();
  }

  goneError(): ConnectError {
    return this.current.goneError();
  }
}
